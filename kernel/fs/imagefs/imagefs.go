// Package imagefs serves a packed root file system image (image/rootfs)
// through the VFS: read-only, zero-copy (reads copy straight from the
// image bytes, which the kernel maps once).
//
// Execution context: service context; unit-tested on the host.
package imagefs

import (
	"syscall"

	"github.com/stardust-go/stardust/image/rootfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// Magic is statfs's f_type for the image file system ("SDRF").
const Magic = 0x53445246

// FS is a mounted image.
type FS struct{ im *rootfs.Image }

// New parses image (see rootfs.Parse) and returns the file system.
func New(image []byte) (*FS, error) {
	im, err := rootfs.Parse(image)
	if err != nil {
		return nil, err
	}
	return &FS{im}, nil
}

// Image returns the parsed image.
func (fs *FS) Image() *rootfs.Image { return fs.im }

// Root implements vfs.Filesystem.
func (fs *FS) Root() vfs.DirNode { return dir{fs.im.Root()} }

// Statfs implements vfs.Filesystem: a full, read-only file system.
func (fs *FS) Statfs(st *syscall.Statfs_t) error {
	var blocks uint64
	for i := 0; i < fs.im.Len(); i++ {
		blocks += uint64(fs.im.Node(uint32(i)).Size()+rootfs.PageSize-1) / rootfs.PageSize
	}
	*st = syscall.Statfs_t{
		Type: Magic, Bsize: rootfs.PageSize, Frsize: rootfs.PageSize,
		Blocks: blocks, Files: uint64(fs.im.Len()), Namelen: rootfs.MaxNameLen,
		Flags: vfs.ST_RDONLY,
	}
	return nil
}

// wrap gives a rootfs node the Go type that tells the VFS its kind.
func wrap(n rootfs.Node) vfs.Node {
	switch {
	case n.IsDir():
		return dir{n}
	case n.IsSymlink():
		return link{n}
	default:
		return file{n}
	}
}

func attr(n rootfs.Node) (vfs.Attr, error) {
	t := n.ModTime()
	ts := syscall.NsecToTimespec(t.UnixNano())
	a := vfs.Attr{
		Ino: uint64(n.Index()) + 1, Mode: n.LinuxMode(), Nlink: 1,
		Size: n.Size(), Blksize: rootfs.PageSize,
		Blocks: (n.Size() + rootfs.PageSize - 1) / rootfs.PageSize * (rootfs.PageSize / 512),
		Atime:  ts, Mtime: ts, Ctime: ts,
	}
	if n.IsDir() {
		// "." and "..", plus each subdirectory's "..", as Linux counts.
		a.Nlink = 2
		for i := 0; i < n.NumChildren(); i++ {
			if n.Child(i).IsDir() {
				a.Nlink++
			}
		}
		a.Size = rootfs.PageSize
		a.Blocks = rootfs.PageSize / 512
	}
	return a, nil
}

// SetAttr makes chmod, utimensat and truncate EROFS even when the image
// is mounted without the read-only flag.
func (d dir) SetAttr(vfs.SetAttr) error  { return syscall.EROFS }
func (l link) SetAttr(vfs.SetAttr) error { return syscall.EROFS }
func (f file) SetAttr(vfs.SetAttr) error { return syscall.EROFS }

type dir struct{ n rootfs.Node }

func (d dir) Attr() (vfs.Attr, error) { return attr(d.n) }

func (d dir) Lookup(name string) (vfs.Node, error) {
	c, ok := d.n.Lookup(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	return wrap(c), nil
}

func (d dir) ReadDir() ([]vfs.DirEntry, error) {
	out := make([]vfs.DirEntry, d.n.NumChildren())
	for i := range out {
		c := d.n.Child(i)
		out[i] = vfs.DirEntry{Name: c.Name(), Ino: uint64(c.Index()) + 1, Type: vfs.DirentType(c.LinuxMode())}
	}
	return out, nil
}

type link struct{ n rootfs.Node }

func (l link) Attr() (vfs.Attr, error)   { return attr(l.n) }
func (l link) Readlink() (string, error) { return l.n.Target(), nil }

type file struct{ n rootfs.Node }

func (f file) Attr() (vfs.Attr, error) { return attr(f.n) }

// Open implements vfs.FileNode. The VFS refuses write access on a
// read-only mount before calling it; this check covers a writable mount
// of an image, which is still read-only.
func (f file) Open(flags int) (vfs.Handle, error) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, syscall.EROFS
	}
	return handle{f.n.Data()}, nil
}

// Data returns the file's bytes inside the image, for mmap.
func (f file) Data() []byte { return f.n.Data() }

type handle struct{ data []byte }

func (h handle) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(h.data)) {
		return 0, nil
	}
	return copy(p, h.data[off:]), nil
}

func (h handle) WriteAt([]byte, int64) (int, error) { return 0, syscall.EBADF }
func (h handle) Close() error                       { return nil }
