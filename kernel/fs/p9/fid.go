package p9

import (
	"context"
	"errors"
	"runtime"
	"syscall"
)

// Fid is a client-side handle on a server file: a number the server maps
// to a file (like an inode reference), and after Open or Create, to an
// open file. A Fid must be clunked once: explicitly with Clunk, or by
// the garbage collector after AutoClunk.
//
// Methods may be called from several goroutines at once; the server
// orders them.
type Fid struct {
	c       *Client
	num     uint32
	qid     Qid
	iounit  uint32 // from Rlopen/Rlcreate: the server's preferred I/O size
	auto    bool
	cleanup runtime.Cleanup
}

func (c *Client) newFid() *Fid { return &Fid{c: c, num: c.allocFid()} }

// Qid is the file's identity, as the walk, attach or open that made the
// fid reported it.
func (f *Fid) Qid() Qid { return f.qid }

// Client is the session the fid belongs to.
func (f *Fid) Client() *Client { return f.c }

// AutoClunk arranges for the fid to be clunked after the Fid becomes
// unreachable. The VFS has no "forget this node" call, so the p9fs nodes
// rely on this instead of leaking server fids.
func (f *Fid) AutoClunk() {
	if f.auto {
		return
	}
	f.auto = true
	c := f.c
	f.cleanup = runtime.AddCleanup(f, func(num uint32) { c.clunkLater(num) }, f.num)
}

// call sends a request naming this fid. The KeepAlive matters with
// AutoClunk: once the fid number is encoded, f itself could otherwise
// become unreachable and be clunked while the request is in flight.
func (f *Fid) call(ctx context.Context, e *Encoder, replySize int) (*Decoder, error) {
	d, err := f.c.rpc(ctx, e, replySize)
	runtime.KeepAlive(f)
	return d, err
}

// Clunk releases the fid (closing the file if it was open).
func (f *Fid) Clunk() error {
	if f.auto {
		f.cleanup.Stop()
		f.auto = false
	}
	err := f.c.clunk(f.num)
	runtime.KeepAlive(f)
	return err
}

// Walk returns a new fid for the file reached from f through names (each
// a single path element; ".." goes up). No names clones f. A walk that
// fails part way returns the error for the first missing name (ENOENT,
// ENOTDIR) and creates nothing.
func (f *Fid) Walk(names ...string) (*Fid, error) {
	nf := f.c.newFid()
	nf.qid = f.qid
	from := f.num
	for first := true; first || len(names) > 0; first = false {
		step := names[:min(len(names), MaxWalkElem)]
		names = names[len(step):]
		// Twalk: fid[4] newfid[4] nwname[2] nwname*(wname[s]). Later
		// steps walk newfid in place, which the protocol allows.
		e := NewMessage(Twalk, 0, 10+16*len(step))
		e.U32(from)
		e.U32(nf.num)
		e.U16(uint16(len(step)))
		for _, n := range step {
			e.Str(n)
		}
		d, err := f.call(context.Background(), e, smallReply)
		if err == nil {
			nq := int(d.U16())
			for range min(nq, len(step)) {
				nf.qid = d.Qid()
			}
			if err = done("walk", d); err == nil && nq != len(step) {
				// A partial walk: the server created no new fid.
				// The name after the last qid does not exist.
				err = syscall.ENOENT
			}
		}
		if err != nil {
			if from == nf.num {
				nf.Clunk() // an earlier step made it
			} else {
				f.c.releaseFid(nf.num)
			}
			return nil, err
		}
		from = nf.num
	}
	return nf, nil
}

// Open opens the file (Tlopen) with Linux open flags (O_RDONLY, O_RDWR,
// O_DIRECTORY, O_SYNC, ...; never O_CREAT).
func (f *Fid) Open(flags uint32) error {
	e := NewMessage(Tlopen, 0, 8)
	e.U32(f.num)
	e.U32(flags)
	d, err := f.call(context.Background(), e, smallReply)
	if err != nil {
		return err
	}
	f.qid, f.iounit = d.Qid(), d.U32()
	return done("lopen", d)
}

// Create makes a regular file name in the directory f and opens it with
// flags (Tlcreate); f then refers to the new, open file. gid is the new
// file's group.
func (f *Fid) Create(name string, flags, mode, gid uint32) error {
	e := NewMessage(Tlcreate, 0, 16+len(name))
	e.U32(f.num)
	e.Str(name)
	e.U32(flags)
	e.U32(mode)
	e.U32(gid)
	d, err := f.call(context.Background(), e, smallReply)
	if err != nil {
		return err
	}
	f.qid, f.iounit = d.Qid(), d.U32()
	return done("lcreate", d)
}

// chunk is the most data one Tread or Twrite on f may carry.
func (f *Fid) chunk(max int) int {
	if f.iounit > 0 && int(f.iounit) < max {
		return int(f.iounit)
	}
	return max
}

// ReadAt reads into p from offset off of the open file, in as many Treads
// as msize requires. At end of file it returns a short count (possibly
// 0) and no error, like the VFS's Handle.ReadAt.
func (f *Fid) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt that gives up when ctx is cancelled: the
// request in flight is flushed and the bytes read so far are returned
// with EINTR.
func (f *Fid) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	max := f.chunk(f.c.maxRead())
	total := 0
	for total < len(p) {
		want := min(len(p)-total, max)
		// Tread: fid[4] offset[8] count[4]; Rread: count[4] data[count]
		e := NewMessage(Tread, 0, 16)
		e.U32(f.num)
		e.U64(uint64(off) + uint64(total))
		e.U32(uint32(want))
		d, err := f.call(ctx, e, headerSize+4+want)
		if err != nil {
			return total, err
		}
		data := d.Data()
		if err := done("read", d); err != nil {
			return total, err
		}
		if len(data) > want {
			return total, &ProtocolError{"read", syscall.EIO}
		}
		total += copy(p[total:], data)
		if len(data) < want {
			break // end of file
		}
	}
	return total, nil
}

// WriteAt writes p at offset off of the open file, in as many Twrites as
// msize requires.
func (f *Fid) WriteAt(p []byte, off int64) (int, error) {
	return f.WriteAtContext(context.Background(), p, off)
}

// WriteAtContext is WriteAt that gives up when ctx is cancelled (see
// ReadAtContext). A write the server finished before the flush counts.
func (f *Fid) WriteAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	max := f.chunk(f.c.maxWrite())
	total := 0
	for total < len(p) {
		want := min(len(p)-total, max)
		// Twrite: fid[4] offset[8] count[4] data[count]; Rwrite: count[4]
		e := NewMessage(Twrite, 0, 16+want)
		e.U32(f.num)
		e.U64(uint64(off) + uint64(total))
		e.Data(p[total : total+want])
		d, err := f.call(ctx, e, smallReply)
		if err != nil {
			return total, err
		}
		n := int(d.U32())
		if err := done("write", d); err != nil {
			return total, err
		}
		if n > want {
			return total, &ProtocolError{"write", syscall.EIO}
		}
		total += n
		if n == 0 {
			return total, syscall.EIO // no progress and no error
		}
	}
	return total, nil
}

// GetAttr returns the file's attributes; mask (GetBasic, GetAll) says
// which are wanted, Attr.Valid which the server filled in.
func (f *Fid) GetAttr(mask uint64) (Attr, error) {
	e := NewMessage(Tgetattr, 0, 12)
	e.U32(f.num)
	e.U64(mask)
	d, err := f.call(context.Background(), e, smallReply)
	if err != nil {
		return Attr{}, err
	}
	a := d.Attr()
	return a, done("getattr", d)
}

// SetAttr changes attributes (chmod, chown, truncate, utimes).
func (f *Fid) SetAttr(s SetAttr) error {
	e := NewMessage(Tsetattr, 0, 60)
	e.U32(f.num)
	e.SetAttr(s)
	_, err := f.call(context.Background(), e, smallReply)
	return err
}

// ReadDir returns the entries of the open directory f from cookie offset
// (0 for the start; then the last entry's Offset), as many as fit in
// count bytes of reply. An empty result means the end.
func (f *Fid) ReadDir(offset uint64, count int) ([]Dirent, error) {
	count = min(count, f.chunk(f.c.maxRead()))
	e := NewMessage(Treaddir, 0, 16)
	e.U32(f.num)
	e.U64(offset)
	e.U32(uint32(count))
	d, err := f.call(context.Background(), e, headerSize+4+count)
	if err != nil {
		return nil, err
	}
	data := d.Data()
	if err := done("readdir", d); err != nil {
		return nil, err
	}
	// Entries: qid[13] offset[8] type[1] name[s], packed.
	var out []Dirent
	ed := &Decoder{b: data}
	for len(ed.b) > 0 {
		de := Dirent{Qid: ed.Qid(), Offset: ed.U64(), Type: ed.U8(), Name: ed.Str()}
		if err := done("readdir", ed); err != nil {
			return nil, err
		}
		out = append(out, de)
	}
	return out, nil
}

// ReadDirAll lists the whole open directory f, "." and ".." included
// (servers return them; callers filter).
func (f *Fid) ReadDirAll() ([]Dirent, error) {
	var all []Dirent
	var off uint64
	for {
		ents, err := f.ReadDir(off, f.c.maxRead())
		if err != nil {
			return nil, err
		}
		if len(ents) == 0 {
			return all, nil
		}
		all = append(all, ents...)
		next := ents[len(ents)-1].Offset
		if next == off {
			// The cookie did not move: a server bug that would
			// otherwise list the same entries forever.
			return nil, &ProtocolError{"readdir", errors.New("directory offset does not advance")}
		}
		off = next
	}
}

// Mkdir makes directory name in the directory f.
func (f *Fid) Mkdir(name string, mode, gid uint32) (Qid, error) {
	e := NewMessage(Tmkdir, 0, 14+len(name))
	e.U32(f.num)
	e.Str(name)
	e.U32(mode)
	e.U32(gid)
	d, err := f.call(context.Background(), e, smallReply)
	if err != nil {
		return Qid{}, err
	}
	q := d.Qid()
	return q, done("mkdir", d)
}

// Symlink makes a symbolic link name → target in the directory f.
func (f *Fid) Symlink(name, target string, gid uint32) (Qid, error) {
	e := NewMessage(Tsymlink, 0, 12+len(name)+len(target))
	e.U32(f.num)
	e.Str(name)
	e.Str(target)
	e.U32(gid)
	d, err := f.call(context.Background(), e, smallReply)
	if err != nil {
		return Qid{}, err
	}
	q := d.Qid()
	return q, done("symlink", d)
}

// Readlink returns the target of the symbolic link f.
func (f *Fid) Readlink() (string, error) {
	e := NewMessage(Treadlink, 0, 4)
	e.U32(f.num)
	d, err := f.call(context.Background(), e, headerSize+2+4096)
	if err != nil {
		return "", err
	}
	s := d.Str()
	return s, done("readlink", d)
}

// Link makes name in the directory f a hard link to target.
func (f *Fid) Link(target *Fid, name string) error {
	// Tlink: dfid[4] fid[4] name[s]
	e := NewMessage(Tlink, 0, 10+len(name))
	e.U32(f.num)
	e.U32(target.num)
	e.Str(name)
	_, err := f.call(context.Background(), e, smallReply)
	runtime.KeepAlive(target)
	return err
}

// UnlinkAt removes name from the directory f; flags AT_REMOVEDIR removes
// an empty directory (rmdir), 0 a non-directory.
func (f *Fid) UnlinkAt(name string, flags uint32) error {
	e := NewMessage(Tunlinkat, 0, 10+len(name))
	e.U32(f.num)
	e.Str(name)
	e.U32(flags)
	_, err := f.call(context.Background(), e, smallReply)
	return err
}

// RenameAt moves oldName in the directory f to newName in newDir,
// replacing a compatible target as rename(2) does.
func (f *Fid) RenameAt(oldName string, newDir *Fid, newName string) error {
	e := NewMessage(Trenameat, 0, 12+len(oldName)+len(newName))
	e.U32(f.num)
	e.Str(oldName)
	e.U32(newDir.num)
	e.Str(newName)
	_, err := f.call(context.Background(), e, smallReply)
	runtime.KeepAlive(newDir)
	return err
}

// Fsync flushes the open file to stable storage on the host; dataOnly
// asks for fdatasync. The datasync field is part of 9P2000.L's Tfsync:
// QEMU treats a Tfsync without it as malformed and resets the device.
func (f *Fid) Fsync(dataOnly bool) error {
	e := NewMessage(Tfsync, 0, 8)
	e.U32(f.num)
	var ds uint32
	if dataOnly {
		ds = 1
	}
	e.U32(ds)
	_, err := f.call(context.Background(), e, smallReply)
	return err
}

// Statfs reports the host file system holding f.
func (f *Fid) Statfs() (Statfs, error) {
	e := NewMessage(Tstatfs, 0, 4)
	e.U32(f.num)
	d, err := f.call(context.Background(), e, smallReply)
	if err != nil {
		return Statfs{}, err
	}
	s := d.Statfs()
	return s, done("statfs", d)
}
