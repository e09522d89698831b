package vfs

import (
	"sync"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// fileDesc is an open regular file: Linux's struct file for S_IFREG. The
// offset lives here, not in the node, because each open(2) has its own
// while dup(2)ed descriptors share one.
type fileDesc struct {
	v    *VFS
	d    *Dentry
	node FileNode
	h    Handle

	mu    sync.Mutex // guards off and flags
	off   int64
	flags int
}

var (
	_ fdesc.Description = (*fileDesc)(nil)
	_ fdesc.Positional  = (*fileDesc)(nil)
	_ fdesc.Syncer      = (*fileDesc)(nil)
	_ fdesc.Truncater   = (*fileDesc)(nil)
)

// maxFileSize is Linux's MAX_LFS_FILESIZE on 64-bit; writes beyond it are EFBIG.
const maxFileSize = 1<<63 - 1

func (f *fileDesc) readable() bool { return f.flags&syscall.O_ACCMODE != syscall.O_WRONLY }
func (f *fileDesc) writable() bool { return f.flags&syscall.O_ACCMODE != syscall.O_RDONLY }

func (f *fileDesc) Read(p []byte) (int, error) {
	if !f.readable() {
		return 0, syscall.EBADF
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.h.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *fileDesc) Write(p []byte) (int, error) {
	if !f.writable() {
		return 0, syscall.EBADF
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.flags&syscall.O_APPEND != 0 {
		n, end, err := f.appendData(p)
		if n > 0 || err == nil {
			f.off = end
		}
		return n, err
	}
	if int64(len(p)) > maxFileSize-f.off {
		return 0, syscall.EFBIG
	}
	n, err := f.h.WriteAt(p, f.off)
	f.off += int64(n)
	return n, err
}

// appendData writes p at the end of the file.
func (f *fileDesc) appendData(p []byte) (int, int64, error) {
	if a, ok := f.h.(Appender); ok {
		return a.Append(p)
	}
	attr, err := f.node.Attr()
	if err != nil {
		return 0, 0, err
	}
	n, err := f.h.WriteAt(p, attr.Size)
	return n, attr.Size + int64(n), err
}

func (f *fileDesc) ReadAt(p []byte, off int64) (int, error) {
	if !f.readable() {
		return 0, syscall.EBADF
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	return f.h.ReadAt(p, off)
}

// WriteAt is pwrite64. On Linux, pwrite on an O_APPEND description appends
// regardless of off (a documented bug kept for compatibility); so do we.
func (f *fileDesc) WriteAt(p []byte, off int64) (int, error) {
	if !f.writable() {
		return 0, syscall.EBADF
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	f.mu.Lock()
	appendMode := f.flags&syscall.O_APPEND != 0
	f.mu.Unlock()
	if appendMode {
		n, _, err := f.appendData(p)
		return n, err
	}
	if int64(len(p)) > maxFileSize-off {
		return 0, syscall.EFBIG
	}
	return f.h.WriteAt(p, off)
}

// SEEK_DATA and SEEK_HOLE, which package syscall does not name.
const (
	seekData = 3
	seekHole = 4
)

func (f *fileDesc) Seek(off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case 0: // SEEK_SET
	case 1: // SEEK_CUR
		base = f.off
	case 2, seekData, seekHole: // SEEK_END
		a, err := f.node.Attr()
		if err != nil {
			return 0, err
		}
		if whence != 2 {
			if hs, ok := f.h.(HoleSeeker); ok {
				if off < 0 {
					return 0, syscall.ENXIO
				}
				pos, err := hs.SeekHole(off, whence == seekData)
				if err != nil {
					return 0, err
				}
				f.off = pos
				return pos, nil
			}
			// The whole file counts as data, with the implicit hole at
			// its end: what Linux reports for file systems that do not
			// track holes.
			if off < 0 || off >= a.Size {
				return 0, syscall.ENXIO
			}
			if whence == seekHole {
				off = a.Size
			}
			f.off = off
			return off, nil
		}
		base = a.Size
	default:
		return 0, syscall.EINVAL
	}
	if (off > 0 && base > maxFileSize-off) || base+off < 0 {
		return 0, syscall.EINVAL
	}
	f.off = base + off
	return f.off, nil
}

func (f *fileDesc) Close() error {
	f.v.releaseFlock(f.d, f)
	return f.h.Close()
}

func (f *fileDesc) Stat(st *syscall.Stat_t) error {
	a, err := f.node.Attr()
	if err != nil {
		return err
	}
	FillStat(st, a, f.d.mnt.dev)
	return nil
}

func (f *fileDesc) Flags() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flags
}

func (f *fileDesc) SetFlags(flags int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flags = f.flags&^SettableFlags | flags&SettableFlags
	return nil
}

func (f *fileDesc) Sync(dataOnly bool) error {
	if s, ok := f.h.(HandleSyncer); ok {
		return s.Sync(dataOnly)
	}
	return nil // nothing is volatile beyond the node itself
}

// Truncate is ftruncate: EINVAL unless the description is writable.
func (f *fileDesc) Truncate(size int64) error {
	if !f.writable() || size < 0 {
		return syscall.EINVAL
	}
	return setSize(f.node, size)
}
