// Package p9fs mounts a 9P2000.L share (a host directory exported by
// QEMU's virtio-9p device) into Stardust's VFS: it implements
// vfs.Filesystem and the node interfaces on top of the p9 client.
//
// Execution context: service context. Every method is an ordinary
// blocking Go function that sends 9P requests and waits for the replies;
// it is tested on the host against the p9test server.
//
// # Nodes and fids
//
// Each node holds a fid: the server's reference to the file, obtained by
// walking one name from the parent directory's fid. A fid names the file
// itself, not a path, so a node keeps working after a rename (as an inode
// reference does) and an open file survives unlink. The VFS never says
// when it is done with a node, so node fids are clunked by the garbage
// collector (p9.Fid.AutoClunk); open files are clunked by Close.
//
// Nothing is cached: every Lookup is a Twalk, every stat a Tgetattr, so
// changes made on the host are seen at once. The node kind comes from the
// walk's qid (directory, symlink or file); device files, FIFOs and sockets
// on the share look like regular files, as QEMU's qids cannot tell them
// apart without a Tgetattr.
package p9fs

import (
	"errors"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fs/p9"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// Options configures New.
type Options struct {
	// Aname selects the export on servers that have several (QEMU has one
	// per device and ignores it).
	Aname string
	// ReadOnly makes the file system refuse every change with EROFS,
	// whatever the server allows. (vfs.MountReadOnly does the same at the
	// mount; this also protects a share used outside a VFS.)
	ReadOnly bool
	// UID is the user to attach as and GID the group of files the guest
	// creates. With QEMU's security_model=none they are ignored (files
	// belong to QEMU's user); with mapped models they are recorded.
	UID, GID uint32
}

// FS is a mounted share.
type FS struct {
	opts     Options
	rootFid  *p9.Fid // never clunked: the share stays attached
	rootNode vfs.DirNode
}

var _ vfs.Filesystem = (*FS)(nil)

// New attaches to the share c serves.
func New(c *p9.Client, opts Options) (*FS, error) {
	rf, err := c.Attach("root", opts.Aname, opts.UID)
	if err != nil {
		return nil, err
	}
	fs := &FS{opts: opts, rootFid: rf}
	root, ok := fs.wrap(rf).(vfs.DirNode)
	if !ok {
		rf.Clunk()
		return nil, syscall.ENOTDIR
	}
	fs.rootNode = root
	return fs, nil
}

// Root implements vfs.Filesystem.
func (fs *FS) Root() vfs.DirNode { return fs.rootNode }

// Statfs implements vfs.Filesystem with the host file system's numbers.
func (fs *FS) Statfs(st *syscall.Statfs_t) error {
	s, err := fs.rootFid.Statfs()
	if err != nil {
		return errno(err)
	}
	*st = syscall.Statfs_t{
		Type: int64(s.Type), Bsize: int64(s.Bsize), Frsize: int64(s.Bsize),
		Blocks: s.Blocks, Bfree: s.Bfree, Bavail: s.Bavail, Files: s.Files, Ffree: s.Ffree,
		Namelen: int64(s.Namelen),
	}
	st.Fsid.X__val[0], st.Fsid.X__val[1] = int32(uint32(s.Fsid)), int32(uint32(s.Fsid>>32))
	return nil
}

// errno turns client errors into what the VFS passes to the program: the
// server's errno, or EIO when the session itself failed.
func errno(err error) error {
	var e syscall.Errno
	if err == nil || errors.As(err, &e) {
		if err != nil {
			return e
		}
		return nil
	}
	return syscall.EIO
}

// node is what every kind of node has: the file system and a fid naming
// the file.
type node struct {
	fs  *FS
	fid *p9.Fid
}

// wrap makes the node for a fid, choosing its Go type by the qid's type.
func (fs *FS) wrap(f *p9.Fid) vfs.Node {
	n := node{fs: fs, fid: f}
	switch {
	case f.Qid().Type&p9.QTDir != 0:
		if fs.opts.ReadOnly {
			return &dir{n}
		}
		return &writableDir{dir{n}}
	case f.Qid().Type&p9.QTSymlink != 0:
		return &symlink{n}
	}
	return &file{n}
}

// Attr implements vfs.Node.
func (n *node) Attr() (vfs.Attr, error) {
	a, err := n.fid.GetAttr(p9.GetBasic)
	if err != nil {
		return vfs.Attr{}, errno(err)
	}
	return vfs.Attr{
		Ino: a.Qid.Path, Mode: a.Mode, Nlink: uint32(a.Nlink), Uid: a.UID, Gid: a.GID,
		Rdev: a.Rdev, Size: int64(a.Size), Blocks: int64(a.Blocks), Blksize: int32(a.Blksize),
		Atime: a.Atime, Mtime: a.Mtime, Ctime: a.Ctime,
	}, nil
}

// SetAttr implements vfs.SetAttrer. The VFS has resolved UTIME_NOW to a
// time, so times are always sent as explicit values (the *_SET bits).
func (n *node) SetAttr(sa vfs.SetAttr) error {
	if n.fs.opts.ReadOnly {
		return syscall.EROFS
	}
	s := p9.SetAttr{Mode: sa.Mode & 0o7777, UID: sa.Uid, GID: sa.Gid, Size: uint64(sa.Size),
		Atime: sa.Atime, Mtime: sa.Mtime}
	for _, m := range [...]struct{ from, to uint32 }{
		{vfs.SetMode, p9.SetAttrMode},
		{vfs.SetUid, p9.SetAttrUID},
		{vfs.SetGid, p9.SetAttrGID},
		{vfs.SetSize, p9.SetAttrSize},
		{vfs.SetAtime, p9.SetAttrAtime | p9.SetAttrAtimeAt},
		{vfs.SetMtime, p9.SetAttrMtime | p9.SetAttrMtimeAt},
	} {
		if sa.Valid&m.from != 0 {
			s.Valid |= m.to
		}
	}
	return errno(n.fid.SetAttr(s))
}

// symlink is a symbolic link on the share.
type symlink struct{ node }

func (l *symlink) Readlink() (string, error) {
	t, err := l.fid.Readlink()
	return t, errno(err)
}

// file is a regular file on the share.
type file struct{ node }

// openFlags are the open flags passed to the server. The VFS has done
// O_CREAT, O_EXCL, O_TRUNC and O_NOFOLLOW already, and it keeps the file
// offset: O_APPEND must not reach the host, where it would make every
// positioned write append even after fcntl cleared it. O_DIRECT would
// impose the host's alignment rules on the guest's buffers.
const openFlags = syscall.O_ACCMODE | syscall.O_SYNC | syscall.O_DSYNC

// Open implements vfs.FileNode: a clone of the node's fid, opened.
func (f *file) Open(flags int) (vfs.Handle, error) {
	if f.fs.opts.ReadOnly && (flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0) {
		return nil, syscall.EROFS
	}
	of, err := f.fid.Walk()
	if err != nil {
		return nil, errno(err)
	}
	if err := of.Open(uint32(flags & openFlags)); err != nil {
		of.Clunk()
		return nil, errno(err)
	}
	return &handle{of}, nil
}

// handle is an open file: its own fid, opened with Tlopen.
type handle struct{ fid *p9.Fid }

var _ vfs.HandleSyncer = (*handle)(nil)

func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	n, err := h.fid.ReadAt(p, off)
	return n, errno(err)
}

func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	n, err := h.fid.WriteAt(p, off)
	return n, errno(err)
}

// Sync implements vfs.HandleSyncer: Tfsync with datasync for fdatasync.
func (h *handle) Sync(dataOnly bool) error { return errno(h.fid.Fsync(dataOnly)) }

func (h *handle) Close() error { return errno(h.fid.Clunk()) }

// Dial starts a 9P session over tr (Tversion, with p9.DefaultMaxMessageSize
// or the transport's limit) and attaches to the share: the one call the
// kernel needs between a transport (virtio.P9) and vfs.Mount.
func Dial(tr p9.Transport, opts Options) (*FS, error) {
	c, err := p9.NewClient(tr, p9.Options{})
	if err != nil {
		return nil, err
	}
	return New(c, opts)
}
