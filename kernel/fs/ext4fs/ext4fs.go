// Package ext4fs mounts an ext4 file system (package ext4, on a virtio-blk
// disk) into Stardust's VFS: it implements vfs.Filesystem and the node
// interfaces as thin wrappers around inode numbers.
//
// Execution context: service context. Every method is an ordinary Go call
// into package ext4, which takes its own lock and may block on disk I/O;
// everything is tested on the host against disk images in files.
//
// # Nodes
//
// A node is only an inode number: ext4 caches inodes and blocks itself, so
// a node costs nothing to make and stays valid across renames. The node's
// Go type (directory, symlink, file, device) comes from the directory
// entry's file type or, when that is unknown, from the inode's mode.
//
// # Open files and unlink
//
// An open handle pins its inode (ext4.FS.Pin), so a file unlinked while
// open keeps its data until the last Close, and is freed at the next mount
// if the machine dies first (ext4's orphan list).
//
// # Durability
//
// fsync and fdatasync commit the running journal transaction (ext4 writes
// the data first, then the journal, with a FLUSH around the commit block).
// The owner of the FS commits periodically as well; see kernel/files.
package ext4fs

import (
	"sync"
	"syscall"
	"time"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/ext4"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// FS is a mounted ext4 file system.
type FS struct {
	fs *ext4.FS
	ro bool
	// names serialises changes to directories, so that checks made
	// before an ext4 call (RENAME_NOREPLACE, Unlink's EISDIR) still hold
	// when it runs; ext4 itself locks each call separately.
	names sync.Mutex
}

var (
	_ vfs.Filesystem = (*FS)(nil)
	_ vfs.FSSyncer   = (*FS)(nil)
)

// New wraps a mounted ext4 file system. If ext4 mounted it read-only (an
// unknown feature, or by request), every change is EROFS.
func New(fs *ext4.FS) *FS {
	ro, _ := fs.ReadOnly()
	return &FS{fs: fs, ro: ro}
}

// Root implements vfs.Filesystem.
func (f *FS) Root() vfs.DirNode { return f.dir(ext4.RootIno) }

// Statfs implements vfs.Filesystem.
func (f *FS) Statfs(st *syscall.Statfs_t) error {
	s := f.fs.StatFS()
	*st = syscall.Statfs_t{
		Type: 0xEF53, Bsize: s.BlockSize, Frsize: s.BlockSize,
		Blocks: s.Blocks, Bfree: s.FreeBlocks, Bavail: s.AvailBlocks,
		Files: s.Inodes, Ffree: s.FreeInodes, Namelen: int64(s.NameMax),
	}
	return nil
}

// Sync implements vfs.FSSyncer: it commits the running transaction.
func (f *FS) Sync() error { return errno(f.fs.Sync()) }

// dir makes a directory node: writable unless the file system is not.
func (f *FS) dir(ino uint32) vfs.DirNode {
	if f.ro {
		return &dir{node{f, ino}}
	}
	return &writableDir{dir{node{f, ino}}}
}

// wrap makes the node for ino, whose S_IFMT type is mode.
func (f *FS) wrap(ino uint32, mode uint32) vfs.Node {
	n := node{f, ino}
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return f.dir(ino)
	case syscall.S_IFLNK:
		return &symlink{n}
	case syscall.S_IFREG:
		return &file{n}
	}
	// Device files, FIFOs and sockets on the disk: stat works, opening
	// them does not (Stardust has no devices to attach to them).
	return &special{n}
}

// errno keeps syscall.Errno values and turns anything else (a corrupt
// structure, a failed disk) into EIO, as Linux reports them.
func errno(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}

// node is an inode of the file system.
type node struct {
	f   *FS
	ino uint32
}

// Attr implements vfs.Node.
func (n *node) Attr() (vfs.Attr, error) {
	s, err := n.f.fs.Stat(n.ino)
	if err != nil {
		return vfs.Attr{}, errno(err)
	}
	return vfs.Attr{
		Ino: uint64(s.Ino), Mode: s.Mode, Nlink: s.Nlink, Uid: s.UID, Gid: s.GID,
		Size: s.Size, Blocks: s.Blocks, Blksize: int32(n.f.fs.BlockSize()),
		Atime: ts(s.Atime), Mtime: ts(s.Mtime), Ctime: ts(s.Ctime),
	}, nil
}

func ts(t time.Time) syscall.Timespec { return syscall.NsecToTimespec(t.UnixNano()) }

// SetAttr implements vfs.SetAttrer: truncate, then chmod/chown/utimes.
func (n *node) SetAttr(a vfs.SetAttr) error {
	if n.f.ro {
		return syscall.EROFS
	}
	if a.Valid&vfs.SetSize != 0 {
		if err := n.f.fs.Truncate(n.ino, a.Size); err != nil {
			return errno(err)
		}
	}
	var s ext4.SetAttr
	if a.Valid&vfs.SetMode != 0 {
		s.Mode = &a.Mode
	}
	if a.Valid&vfs.SetUid != 0 {
		s.UID = &a.Uid
	}
	if a.Valid&vfs.SetGid != 0 {
		s.GID = &a.Gid
	}
	if a.Valid&vfs.SetAtime != 0 {
		t := time.Unix(a.Atime.Unix())
		s.Atime = &t
	}
	if a.Valid&vfs.SetMtime != 0 {
		t := time.Unix(a.Mtime.Unix())
		s.Mtime = &t
	}
	if s == (ext4.SetAttr{}) {
		return nil
	}
	return errno(n.f.fs.Setattr(n.ino, s))
}

// symlink is a symbolic link.
type symlink struct{ node }

func (l *symlink) Readlink() (string, error) {
	t, err := l.f.fs.Readlink(l.ino)
	return t, errno(err)
}

// special is a device file, FIFO or socket stored on the disk. It is a
// DeviceNode that cannot be opened.
type special struct{ node }

func (s *special) OpenDescription(flags int) (fdesc.Description, error) {
	return nil, syscall.ENXIO
}

// file is a regular file.
type file struct{ node }

// Open implements vfs.FileNode. The VFS has done O_CREAT, O_EXCL and
// O_TRUNC already and refuses writes on a read-only mount.
func (fl *file) Open(flags int) (vfs.Handle, error) {
	if fl.f.ro && (flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0) {
		return nil, syscall.EROFS
	}
	fl.f.fs.Pin(fl.ino)
	return &handle{f: fl.f, ino: fl.ino, sync: flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0}, nil
}

// handle is an open regular file.
type handle struct {
	f      *FS
	ino    uint32
	sync   bool // O_SYNC/O_DSYNC: every write is committed before it returns
	closed bool
}

var _ vfs.HandleSyncer = (*handle)(nil)

func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	n, err := h.f.fs.ReadAt(h.ino, p, off)
	return n, errno(err)
}

func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	n, err := h.f.fs.WriteAt(h.ino, p, off)
	if err == nil && h.sync {
		err = h.f.fs.Sync()
	}
	return n, errno(err)
}

// Sync implements vfs.HandleSyncer. ext4 journals metadata as a whole, so
// fdatasync and fsync both commit the running transaction.
func (h *handle) Sync(dataOnly bool) error { return errno(h.f.fs.Sync()) }

// Close releases the pin (freeing an unlinked file's blocks).
func (h *handle) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	return errno(h.f.fs.Unpin(h.ino))
}
