package p9

import (
	"encoding/binary"
	"errors"
	"syscall"
)

// Version is the only protocol dialect this package speaks. It must be
// exactly this string: QEMU answers any other (for instance a
// "9P2000.L.Google.N" extension) with "unknown" and the session fails.
const Version = "9P2000.L"

// Message types. A reply's type is always its request's type + 1. The
// 9P2000.L additions (Tlopen, Tgetattr, ...) use the low numbers; the
// classic 9P2000 messages this dialect keeps (Tversion, Twalk, Tread, ...)
// use the 100s.
const (
	Tlerror     = 6 // never sent; Rlerror replaces any reply on failure
	Rlerror     = 7
	Tstatfs     = 8
	Rstatfs     = 9
	Tlopen      = 12
	Rlopen      = 13
	Tlcreate    = 14
	Rlcreate    = 15
	Tsymlink    = 16
	Rsymlink    = 17
	Treadlink   = 22
	Rreadlink   = 23
	Tgetattr    = 24
	Rgetattr    = 25
	Tsetattr    = 26
	Rsetattr    = 27
	Treaddir    = 40
	Rreaddir    = 41
	Tfsync      = 50
	Rfsync      = 51
	Tlink       = 70
	Rlink       = 71
	Tmkdir      = 72
	Rmkdir      = 73
	Trenameat   = 74
	Rrenameat   = 75
	Tunlinkat   = 76
	Runlinkat   = 77
	Tversion    = 100
	Rversion    = 101
	Tattach     = 104
	Rattach     = 105
	Tflush      = 108
	Rflush      = 109
	Twalk       = 110
	Rwalk       = 111
	Tread       = 116
	Rread       = 117
	Twrite      = 118
	Rwrite      = 119
	Tclunk      = 120
	Rclunk      = 121
	headerSize  = 7      // size[4] type[1] tag[2]
	NoTag       = 0xffff // the tag of Tversion
	NoFid       = 0xffffffff
	MaxWalkElem = 16 // names per Twalk (MAXWELEM)
	NoUID       = 0xffffffff

	// ioHeader is what a Tread reply and a Twrite request carry besides
	// the data: header + count[4] for Rread, header + fid[4] offset[8]
	// count[4] for Twrite. Linux calls the larger one P9_IOHDRSZ (24).
	ioHeader = headerSize + 4 + 8 + 4
)

// Qid types: the high byte of a file's mode in Plan 9 terms.
const (
	QTDir     = 0x80
	QTSymlink = 0x02
	QTFile    = 0x00
)

// Qid is the server's identity of a file: Path is unique per file (the
// host's inode number, for QEMU), Version changes when the file does.
type Qid struct {
	Type    uint8
	Version uint32
	Path    uint64
}

// Tgetattr request and Rgetattr valid-mask bits.
const (
	GetMode   = 0x1
	GetNlink  = 0x2
	GetUID    = 0x4
	GetGID    = 0x8
	GetRdev   = 0x10
	GetAtime  = 0x20
	GetMtime  = 0x40
	GetCtime  = 0x80
	GetIno    = 0x100
	GetSize   = 0x200
	GetBlocks = 0x400
	GetBasic  = 0x7ff // everything stat(2) reports
	GetAll    = 0x3fff
)

// Attr is an Rgetattr: the file's stat, with the qid in place of st_ino.
type Attr struct {
	Valid   uint64
	Qid     Qid
	Mode    uint32 // Linux st_mode
	UID     uint32
	GID     uint32
	Nlink   uint64
	Rdev    uint64
	Size    uint64
	Blksize uint64
	Blocks  uint64 // 512-byte units
	Atime   syscall.Timespec
	Mtime   syscall.Timespec
	Ctime   syscall.Timespec
}

// Tsetattr valid bits. ATIME alone means "now"; ATIME|ATIME_SET means
// "the time given" (likewise for MTIME).
const (
	SetAttrMode    = 0x1
	SetAttrUID     = 0x2
	SetAttrGID     = 0x4
	SetAttrSize    = 0x8
	SetAttrAtime   = 0x10
	SetAttrMtime   = 0x20
	SetAttrCtime   = 0x40
	SetAttrAtimeAt = 0x80
	SetAttrMtimeAt = 0x100
)

// SetAttr is a Tsetattr: Valid says which fields apply.
type SetAttr struct {
	Valid uint32
	Mode  uint32
	UID   uint32
	GID   uint32
	Size  uint64
	Atime syscall.Timespec
	Mtime syscall.Timespec
}

// Statfs is an Rstatfs, the host file system's statfs(2).
type Statfs struct {
	Type    uint32
	Bsize   uint32
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Fsid    uint64
	Namelen uint32
}

// Dirent is one Treaddir entry. Offset is the cookie to pass to the next
// Treaddir to continue after this entry.
type Dirent struct {
	Qid    Qid
	Offset uint64
	Type   uint8 // d_type (DT_REG, DT_DIR, ...)
	Name   string
}

// AT_REMOVEDIR is Tunlinkat's flag to remove a directory (Linux's value).
const AT_REMOVEDIR = 0x200

// errShort is a malformed (truncated) message from the other side.
var errShort = errors.New("p9: message too short")

// Encoder builds one message. The size field is filled in by Bytes. It is
// exported for servers (the test server in p9test) as well as used by the
// client.
type Encoder struct{ b []byte }

// NewMessage starts a message of type typ with tag; capacity is a hint
// for the body's size.
func NewMessage(typ uint8, tag uint16, capacity int) *Encoder {
	e := &Encoder{b: make([]byte, headerSize, headerSize+capacity)}
	e.b[4] = typ
	binary.LittleEndian.PutUint16(e.b[5:], tag)
	return e
}

// U8, U16, U32 and U64 append little-endian integers.
func (e *Encoder) U8(v uint8)   { e.b = append(e.b, v) }
func (e *Encoder) U16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *Encoder) U32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *Encoder) U64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

// Str appends a string: len[2] then the bytes.
func (e *Encoder) Str(s string) {
	e.U16(uint16(len(s)))
	e.b = append(e.b, s...)
}

// Data appends count[4] then the bytes (Twrite, Rread, Rreaddir).
func (e *Encoder) Data(p []byte) { e.U32(uint32(len(p))); e.b = append(e.b, p...) }

// Qid appends type[1] version[4] path[8].
func (e *Encoder) Qid(q Qid) { e.U8(q.Type); e.U32(q.Version); e.U64(q.Path) }

// Time appends sec[8] nsec[8].
func (e *Encoder) Time(t syscall.Timespec) {
	e.U64(uint64(t.Sec))
	e.U64(uint64(t.Nsec))
}

// Bytes finishes the message by writing its total length first.
func (e *Encoder) Bytes() []byte {
	binary.LittleEndian.PutUint32(e.b, uint32(len(e.b)))
	return e.b
}

var zeros [8]byte

// Decoder reads fields in order; after a short read every further read
// returns zeros and Err reports the problem, so callers check once at the
// end instead of after every field.
type Decoder struct {
	b   []byte
	bad bool
}

// Take returns the next n bytes without copying.
func (d *Decoder) Take(n int) []byte {
	if d.bad || len(d.b) < n {
		// Hand back zeros for fixed-size fields; nothing for a count
		// read from a corrupt message (it could be 4 GiB).
		d.bad = true
		if n <= len(zeros) {
			return zeros[:n]
		}
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// U8, U16, U32 and U64 read little-endian integers.
func (d *Decoder) U8() uint8   { return d.Take(1)[0] }
func (d *Decoder) U16() uint16 { return binary.LittleEndian.Uint16(d.Take(2)) }
func (d *Decoder) U32() uint32 { return binary.LittleEndian.Uint32(d.Take(4)) }
func (d *Decoder) U64() uint64 { return binary.LittleEndian.Uint64(d.Take(8)) }

// Str reads len[2] and that many bytes.
func (d *Decoder) Str() string { return string(d.Take(int(d.U16()))) }

// Qid reads type[1] version[4] path[8].
func (d *Decoder) Qid() Qid { return Qid{Type: d.U8(), Version: d.U32(), Path: d.U64()} }

// Time reads sec[8] nsec[8].
func (d *Decoder) Time() syscall.Timespec {
	return syscall.Timespec{Sec: int64(d.U64()), Nsec: int64(d.U64())}
}

// Data returns a count[4]-prefixed byte string without copying.
func (d *Decoder) Data() []byte { return d.Take(int(d.U32())) }

// Err reports whether any read ran past the end of the message.
func (d *Decoder) Err() error {
	if d.bad {
		return errShort
	}
	return nil
}

// Attr decodes an Rgetattr body.
func (d *Decoder) Attr() Attr {
	a := Attr{Valid: d.U64(), Qid: d.Qid(), Mode: d.U32(), UID: d.U32(), GID: d.U32(),
		Nlink: d.U64(), Rdev: d.U64(), Size: d.U64(), Blksize: d.U64(), Blocks: d.U64()}
	a.Atime, a.Mtime, a.Ctime = d.Time(), d.Time(), d.Time()
	d.Time() // btime
	d.U64()  // gen
	d.U64()  // data_version
	return a
}

// Header splits a message into its size, type and tag fields.
func Header(msg []byte) (size uint32, typ uint8, tag uint16, ok bool) {
	if len(msg) < headerSize {
		return 0, 0, 0, false
	}
	return binary.LittleEndian.Uint32(msg), msg[4], binary.LittleEndian.Uint16(msg[5:]), true
}

// NewDecoder reads the body of msg, after the 7-byte header.
func NewDecoder(msg []byte) *Decoder {
	if len(msg) < headerSize {
		return &Decoder{bad: true}
	}
	return &Decoder{b: msg[headerSize:]}
}

// Rest returns the bytes not read yet.
func (d *Decoder) Rest() []byte { return d.b }

// SetAttr encodes a Tsetattr body after the fid.
func (e *Encoder) SetAttr(s SetAttr) {
	e.U32(s.Valid)
	e.U32(s.Mode)
	e.U32(s.UID)
	e.U32(s.GID)
	e.U64(s.Size)
	e.Time(s.Atime)
	e.Time(s.Mtime)
}

// SetAttr decodes a Tsetattr body after the fid.
func (d *Decoder) SetAttr() SetAttr {
	s := SetAttr{Valid: d.U32(), Mode: d.U32(), UID: d.U32(), GID: d.U32(), Size: d.U64()}
	s.Atime, s.Mtime = d.Time(), d.Time()
	return s
}

// Attr encodes an Rgetattr body (btime, gen and data_version as zero).
func (e *Encoder) Attr(a Attr) {
	e.U64(a.Valid)
	e.Qid(a.Qid)
	e.U32(a.Mode)
	e.U32(a.UID)
	e.U32(a.GID)
	e.U64(a.Nlink)
	e.U64(a.Rdev)
	e.U64(a.Size)
	e.U64(a.Blksize)
	e.U64(a.Blocks)
	e.Time(a.Atime)
	e.Time(a.Mtime)
	e.Time(a.Ctime)
	e.Time(syscall.Timespec{})
	e.U64(0)
	e.U64(0)
}

// Statfs encodes an Rstatfs body.
func (e *Encoder) Statfs(s Statfs) {
	e.U32(s.Type)
	e.U32(s.Bsize)
	e.U64(s.Blocks)
	e.U64(s.Bfree)
	e.U64(s.Bavail)
	e.U64(s.Files)
	e.U64(s.Ffree)
	e.U64(s.Fsid)
	e.U32(s.Namelen)
}

// Statfs decodes an Rstatfs body.
func (d *Decoder) Statfs() Statfs {
	return Statfs{Type: d.U32(), Bsize: d.U32(), Blocks: d.U64(), Bfree: d.U64(), Bavail: d.U64(),
		Files: d.U64(), Ffree: d.U64(), Fsid: d.U64(), Namelen: d.U32()}
}

// Dirent encodes one Rreaddir entry.
func (e *Encoder) Dirent(de Dirent) {
	e.Qid(de.Qid)
	e.U64(de.Offset)
	e.U8(de.Type)
	e.Str(de.Name)
}

// Len is the message's length so far.
func (e *Encoder) Len() int { return len(e.b) }

// Truncate drops everything after the first n bytes (a server uses it to
// take back an entry that would overflow the reply).
func (e *Encoder) Truncate(n int) { e.b = e.b[:n] }

// Raw appends bytes as they are (no count prefix).
func (e *Encoder) Raw(p []byte) { e.b = append(e.b, p...) }
