package vfs

import (
	"encoding/binary"
	"sort"
	"sync"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// dirDesc is an open directory. getdents64 reads a snapshot of the
// listing taken at the first read and again after a rewind (lseek to 0),
// so entries added or removed meanwhile are neither skipped nor repeated
// within one pass; the offset (d_off) of an entry is its index + 1 in the
// snapshot.
type dirDesc struct {
	v *VFS
	d *Dentry

	mu      sync.Mutex
	entries []DirEntry // nil until the first read after open or rewind
	pos     int64
	flags   int
}

var (
	_ fdesc.Description = (*dirDesc)(nil)
	_ fdesc.Directory   = (*dirDesc)(nil)
	_ fdesc.Positional  = (*dirDesc)(nil)
	_ fdesc.Syncer      = (*dirDesc)(nil)
)

func (d *dirDesc) Read([]byte) (int, error)           { return 0, syscall.EISDIR }
func (d *dirDesc) ReadAt([]byte, int64) (int, error)  { return 0, syscall.EISDIR }
func (d *dirDesc) Write([]byte) (int, error)          { return 0, syscall.EBADF }
func (d *dirDesc) WriteAt([]byte, int64) (int, error) { return 0, syscall.EBADF }
func (d *dirDesc) Close() error                       { d.v.releaseFlock(d.d, d); return nil }
func (d *dirDesc) Stat(st *syscall.Stat_t) error      { return statDentry(d.d, st) }
func (d *dirDesc) SetFlags(flags int) error {
	d.mu.Lock()
	d.flags = d.flags&^SettableFlags | flags&SettableFlags
	d.mu.Unlock()
	return nil
}
func (d *dirDesc) Flags() int { d.mu.Lock(); defer d.mu.Unlock(); return d.flags }

// Sync makes the directory's entries durable: the file system's FSSyncer,
// if it has one (file systems without a disk have nothing to do).
func (d *dirDesc) Sync(bool) error {
	if s, ok := d.d.mnt.fs.(FSSyncer); ok {
		return s.Sync()
	}
	return nil
}

func statDentry(d *Dentry, st *syscall.Stat_t) error {
	a, err := d.node.Attr()
	if err != nil {
		return err
	}
	FillStat(st, a, d.mnt.dev)
	return nil
}

// Seek accepts SEEK_SET and SEEK_CUR to offsets previously returned in
// d_off (or 0 to rewind); SEEK_END is EINVAL as on most Linux file systems.
func (d *dirDesc) Seek(off int64, whence int) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch whence {
	case 0:
	case 1:
		off += d.pos
	default:
		return 0, syscall.EINVAL
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if off == 0 {
		d.entries = nil // rewinddir: take a fresh snapshot
	}
	d.pos = off
	return off, nil
}

// snapshot lists ".", ".." and the children, plus mount points that the
// underlying directory does not have.
func (d *dirDesc) snapshot() ([]DirEntry, error) {
	dn := d.d.node.(DirNode)
	children, err := dn.ReadDir()
	if err != nil {
		return nil, err
	}
	self, err := d.d.node.Attr()
	if err != nil {
		return nil, err
	}
	parent, err := up(d.d).node.Attr()
	if err != nil {
		return nil, err
	}
	out := make([]DirEntry, 0, len(children)+2)
	out = append(out, DirEntry{".", self.Ino, DT_DIR}, DirEntry{"..", parent.Ino, DT_DIR})
	out = append(out, children...)
	if extra := d.v.mountNames(d.d); len(extra) > 0 {
		have := map[string]int{}
		for i, e := range out {
			have[e.Name] = i
		}
		// sort.Slice, as the file systems' ReadDir use: sort.Strings
		// would link a second sort, generic over strings (8 KB).
		sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
		for _, name := range extra {
			m := d.v.mountedAt(d.d, name)
			if m == nil {
				continue
			}
			a, err := m.root.node.Attr()
			if err != nil {
				continue
			}
			e := DirEntry{name, a.Ino, DT_DIR}
			if i, ok := have[name]; ok {
				out[i] = e // the mount hides the directory below it
			} else {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// direntHeader is the fixed part of struct linux_dirent64:
// d_ino u64, d_off s64, d_reclen u16, d_type u8, then the name.
const direntHeader = 19

// DirentSize is the record length of a linux_dirent64 for a name: the
// header, the name and its NUL, rounded up to 8 bytes.
func DirentSize(name string) int { return (direntHeader + len(name) + 1 + 7) &^ 7 }

// PutDirent encodes one linux_dirent64 record at the start of buf, which
// must hold DirentSize(name) bytes; padding bytes are zeroed.
func PutDirent(buf []byte, ino uint64, off int64, typ uint8, name string) int {
	n := DirentSize(name)
	binary.LittleEndian.PutUint64(buf[0:], ino)
	binary.LittleEndian.PutUint64(buf[8:], uint64(off))
	binary.LittleEndian.PutUint16(buf[16:], uint16(n))
	buf[18] = typ
	copy(buf[direntHeader:], name)
	clear(buf[direntHeader+len(name) : n])
	return n
}

// ReadDirents implements getdents64. A buffer too small for even one
// record is EINVAL, as on Linux.
func (d *dirDesc) ReadDirents(buf []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries == nil {
		e, err := d.snapshot()
		if err != nil {
			return 0, err
		}
		d.entries = e
	}
	n := 0
	for d.pos < int64(len(d.entries)) {
		e := d.entries[d.pos]
		size := DirentSize(e.Name)
		if size > len(buf)-n {
			if n == 0 {
				return 0, syscall.EINVAL
			}
			break
		}
		n += PutDirent(buf[n:], e.Ino, d.pos+1, e.Type, e.Name)
		d.pos++
	}
	return n, nil
}
