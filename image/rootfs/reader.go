package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Image is a parsed root file system image. It keeps a reference to the
// bytes it was parsed from and never copies file data out of them; the
// bytes must not change while the Image is in use.
//
// Parse validates the whole index up front, so no accessor can index out
// of range later, whatever the bytes were: a malformed image is rejected
// with an error by Parse and never causes a panic.
type Image struct {
	data    []byte // the whole image, data[:imageSize]
	index   []byte // entryCount * entrySize bytes
	strs    []byte // the string table
	count   uint32
	dataOff uint64
}

// ErrFormat wraps every error Parse reports about malformed input.
var ErrFormat = errors.New("rootfs: malformed image")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// Parse checks data and returns an Image reading from it.
func Parse(data []byte) (*Image, error) {
	if len(data) < headerSize {
		return nil, formatErr("%d bytes is shorter than the header", len(data))
	}
	if string(data[hMagic:hMagic+8]) != Magic {
		return nil, formatErr("bad magic %q", data[hMagic:hMagic+8])
	}
	if v := le.Uint32(data[hVersion:]); v != Version {
		return nil, formatErr("unsupported version %d (this kernel reads %d)", v, Version)
	}
	if es := le.Uint32(data[hEntrySize:]); es != entrySize {
		return nil, formatErr("entry size %d, want %d", es, entrySize)
	}
	if le.Uint32(data[hReserved:]) != 0 {
		return nil, formatErr("reserved header field is not zero")
	}
	count := le.Uint32(data[hEntryCount:])
	indexOff := le.Uint64(data[hIndexOff:])
	strOff := le.Uint64(data[hStringsOff:])
	strLen := le.Uint64(data[hStringsLen:])
	dataOff := le.Uint64(data[hDataOff:])
	size := le.Uint64(data[hImageSize:])

	// Every range check below is written as "length <= limit - offset"
	// after checking "offset <= limit", so no sum can overflow.
	if size > uint64(len(data)) || size < headerSize {
		return nil, formatErr("image size %d, but %d bytes are present", size, len(data))
	}
	if count == 0 {
		return nil, formatErr("no root directory entry")
	}
	if indexOff < headerSize || indexOff%8 != 0 || indexOff > size ||
		uint64(count) > (size-indexOff)/entrySize {
		return nil, formatErr("index (offset %d, %d entries) outside the image", indexOff, count)
	}
	if strOff > size || strLen > size-strOff {
		return nil, formatErr("string table (offset %d, length %d) outside the image", strOff, strLen)
	}
	if dataOff%PageSize != 0 || dataOff > size {
		return nil, formatErr("data offset %d is not page-aligned inside the image", dataOff)
	}
	im := &Image{
		data:    data[:size],
		index:   data[indexOff : indexOff+uint64(count)*entrySize],
		strs:    data[strOff : strOff+strLen],
		count:   count,
		dataOff: dataOff,
	}
	if err := im.validate(); err != nil {
		return nil, err
	}
	return im, nil
}

// validate checks every entry. The tree check relies on the breadth-first
// layout: walking the entries in order, each directory's children must be
// exactly the next unassigned run of entries, and every entry must have
// been assigned to a parent before it is reached. That makes the index a
// tree (no cycles, no shared children, nothing unreachable) in one pass.
func (im *Image) validate() error {
	next := uint64(1) // first entry not yet given a parent
	for i := uint32(0); i < im.count; i++ {
		e := im.entry(i)
		mode := le.Uint32(e[eMode:])
		if mode&^(sIFMT|permMax) != 0 {
			return formatErr("entry %d: unknown mode bits %#o", i, mode)
		}
		if le.Uint32(e[eReserved:]) != 0 {
			return formatErr("entry %d: reserved field is not zero", i)
		}
		if le.Uint32(e[eMtimeNs:]) >= 1e9 {
			return formatErr("entry %d: nanoseconds out of range", i)
		}
		name, ok := im.str(le.Uint64(e[eNameOff:]), uint64(le.Uint32(e[eNameLen:])))
		if !ok {
			return formatErr("entry %d: name outside the string table", i)
		}
		if i == 0 {
			if mode&sIFMT != sIFDIR || len(name) != 0 {
				return formatErr("entry 0 is not an unnamed directory")
			}
		} else {
			if uint64(i) >= next {
				return formatErr("entry %d has no parent directory", i)
			}
			if !validName(name) {
				return formatErr("entry %d: invalid name %q", i, name)
			}
		}
		a, b := le.Uint64(e[eA:]), le.Uint64(e[eB:])
		switch mode & sIFMT {
		case sIFDIR:
			if a != next || b > uint64(im.count)-next {
				return formatErr("entry %d: children [%d,+%d) out of order", i, a, b)
			}
			next += b
			for c := a + 1; c < a+b; c++ {
				if bytes.Compare(im.rawName(uint32(c-1)), im.rawName(uint32(c))) >= 0 {
					return formatErr("directory %d: children not sorted or duplicated", i)
				}
			}
		case sIFREG:
			if b == 0 {
				if a != 0 {
					return formatErr("entry %d: empty file with data offset", i)
				}
				break
			}
			if a%PageSize != 0 || a < im.dataOff || a > uint64(len(im.data)) || b > uint64(len(im.data))-a {
				return formatErr("entry %d: data [%d,+%d) outside the data area or unaligned", i, a, b)
			}
		case sIFLNK:
			t, ok := im.str(a, b)
			if !ok || len(t) == 0 || len(t) > MaxTargetLen || bytes.IndexByte(t, 0) >= 0 {
				return formatErr("entry %d: invalid symlink target", i)
			}
		default:
			return formatErr("entry %d: unsupported file type %#o", i, mode&sIFMT)
		}
	}
	if next != uint64(im.count) {
		return formatErr("%d entries are not in any directory", uint64(im.count)-next)
	}
	return nil
}

func validName(n []byte) bool {
	if len(n) == 0 || len(n) > MaxNameLen || string(n) == "." || string(n) == ".." {
		return false
	}
	return bytes.IndexByte(n, '/') < 0 && bytes.IndexByte(n, 0) < 0
}

func (im *Image) entry(i uint32) []byte {
	off := uint64(i) * entrySize
	return im.index[off : off+entrySize]
}

// str returns the string-table bytes [off, off+n) if they are in range.
func (im *Image) str(off, n uint64) ([]byte, bool) {
	if off > uint64(len(im.strs)) || n > uint64(len(im.strs))-off {
		return nil, false
	}
	return im.strs[off : off+n], true
}

// rawName is the name of a validated entry, without copying.
func (im *Image) rawName(i uint32) []byte {
	e := im.entry(i)
	b, _ := im.str(le.Uint64(e[eNameOff:]), uint64(le.Uint32(e[eNameLen:])))
	return b
}

// Len returns the number of entries (files, directories and symlinks,
// including the root).
func (im *Image) Len() int { return int(im.count) }

// Root returns the root directory.
func (im *Image) Root() Node { return Node{im, 0} }

// Node returns the entry with index i, which must be below Len.
func (im *Image) Node(i uint32) Node {
	if i >= im.count {
		panic("rootfs: node index out of range")
	}
	return Node{im, i}
}

// Node is one entry of the image. It is a small value; copying it is free.
type Node struct {
	im *Image
	i  uint32
}

func (n Node) field(off int) uint64 { return le.Uint64(n.im.entry(n.i)[off:]) }

// Index returns the entry's index; Index()+1 makes a good inode number
// (unique within the image and never zero).
func (n Node) Index() uint32 { return n.i }

// Name returns the last path element ("" for the root).
func (n Node) Name() string { return string(n.im.rawName(n.i)) }

// LinuxMode returns the st_mode (type and permission bits) as Linux encodes it.
func (n Node) LinuxMode() uint32 { return le.Uint32(n.im.entry(n.i)[eMode:]) }

// Mode returns the mode as io/fs encodes it.
func (n Node) Mode() fs.FileMode { return linuxToFileMode(n.LinuxMode()) }

// IsDir, IsRegular and IsSymlink report the entry's type.
func (n Node) IsDir() bool     { return n.LinuxMode()&sIFMT == sIFDIR }
func (n Node) IsRegular() bool { return n.LinuxMode()&sIFMT == sIFREG }
func (n Node) IsSymlink() bool { return n.LinuxMode()&sIFMT == sIFLNK }

// Size returns a regular file's length, a symlink's target length, and 0
// for a directory (the reader does not invent a directory size).
func (n Node) Size() int64 {
	if n.IsDir() {
		return 0
	}
	return int64(n.field(eB))
}

// ModTime returns the modification time recorded at build time.
func (n Node) ModTime() time.Time {
	e := n.im.entry(n.i)
	return time.Unix(int64(le.Uint64(e[eMtimeSec:])), int64(le.Uint32(e[eMtimeNs:])))
}

// Data returns a regular file's contents as a sub-slice of the image:
// no copy is made, and the caller must not modify it. It returns nil for
// other entry types and for empty files.
func (n Node) Data() []byte {
	if !n.IsRegular() || n.field(eB) == 0 {
		return nil
	}
	a, b := n.field(eA), n.field(eB)
	return n.im.data[a : a+b : a+b]
}

// DataOffset returns where a regular file's data starts in the image (a
// multiple of PageSize), for callers that map file pages directly.
func (n Node) DataOffset() int64 {
	if !n.IsRegular() {
		return 0
	}
	return int64(n.field(eA))
}

// Target returns a symlink's target ("" for other entry types).
func (n Node) Target() string {
	if !n.IsSymlink() {
		return ""
	}
	t, _ := n.im.str(n.field(eA), n.field(eB))
	return string(t)
}

// NumChildren returns the number of entries in a directory (0 otherwise).
func (n Node) NumChildren() int {
	if !n.IsDir() {
		return 0
	}
	return int(n.field(eB))
}

// Child returns the i-th entry of a directory, in name order.
func (n Node) Child(i int) Node {
	if i < 0 || i >= n.NumChildren() {
		panic("rootfs: child index out of range")
	}
	return Node{n.im, uint32(n.field(eA)) + uint32(i)}
}

// Lookup finds name in directory n with a binary search over its sorted
// children. It does not follow symlinks and does not interpret "." or "..".
func (n Node) Lookup(name string) (Node, bool) {
	if !n.IsDir() {
		return Node{}, false
	}
	first, cnt := uint32(n.field(eA)), uint32(n.field(eB))
	lo, hi := first, first+cnt
	for lo < hi {
		mid := lo + (hi-lo)/2
		switch c := compareBytesString(n.im.rawName(mid), name); {
		case c == 0:
			return Node{n.im, mid}, true
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return Node{}, false
}

// compareBytesString is bytes.Compare without converting either side.
func compareBytesString(a []byte, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}
