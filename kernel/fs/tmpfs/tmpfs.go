// Package tmpfs is an in-memory file system with full read/write
// semantics: regular files (sparse, page-granular storage), directories,
// symbolic links and hard links. Stardust mounts one at /tmp; tests use it
// as the reference writable file system for the VFS.
//
// Execution context: service context. Every method may allocate and block
// on the file system's mutex; it is unit-tested on the host.
//
// One mutex per file system guards everything: metadata operations are
// short, and a single lock makes rename (which touches two directories)
// and link counting obviously correct. File data is copied under the lock
// too; tmpfs is not where throughput matters.
package tmpfs

import (
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// Magic is TMPFS_MAGIC, statfs's f_type for tmpfs.
const Magic = 0x01021994

const pageSize = 4096

// Options configures New.
type Options struct {
	// MaxBytes caps the file data held (ENOSPC beyond it); 0 means no cap.
	MaxBytes int64
	// Mode is the root directory's permissions (default 01777, as /tmp).
	Mode uint32
	// Now is the clock, in nanoseconds since the Unix epoch; nil means
	// time.Now. (Not a func() time.Time: *FS goes into interfaces, and a
	// time.Time reachable from one links its formatting code.)
	Now func() int64
}

// FS is one tmpfs instance.
type FS struct {
	mu      sync.Mutex
	opts    Options
	root    *inode
	nextIno uint64
	pages   int64 // pages allocated across all files
	inodes  int64 // live inodes
}

// New returns an empty tmpfs.
func New(opts Options) *FS {
	if opts.Mode == 0 {
		opts.Mode = 0o1777
	}
	if opts.Now == nil {
		opts.Now = func() int64 { return time.Now().UnixNano() }
	}
	fs := &FS{opts: opts}
	fs.root = fs.newInode(syscall.S_IFDIR | opts.Mode&0o7777)
	fs.root.parent = fs.root
	return fs
}

// inode is a tmpfs file of any type.
type inode struct {
	fs    *FS
	ino   uint64
	mode  uint32
	nlink uint32
	uid   uint32
	gid   uint32
	atime syscall.Timespec
	mtime syscall.Timespec
	ctime syscall.Timespec

	// directories
	children map[string]*inode
	parent   *inode // for the rename loop check; the root is its own parent

	// regular files: pages[i] holds bytes [i*4096, (i+1)*4096); a missing
	// page is a hole and reads as zeros.
	pages map[int64]*[pageSize]byte
	size  int64

	// symbolic links
	target string
}

func (fs *FS) now() syscall.Timespec { return syscall.NsecToTimespec(fs.opts.Now()) }

// newInode must be called with fs.mu held (or before fs is shared).
func (fs *FS) newInode(mode uint32) *inode {
	fs.nextIno++
	fs.inodes++
	t := fs.now()
	in := &inode{fs: fs, ino: fs.nextIno, mode: mode, nlink: 1, atime: t, mtime: t, ctime: t}
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		in.children = map[string]*inode{}
		in.nlink = 2
	case syscall.S_IFREG:
		in.pages = map[int64]*[pageSize]byte{}
	}
	return in
}

func (in *inode) isDir() bool { return in.mode&syscall.S_IFMT == syscall.S_IFDIR }

// node wraps an inode in the Go type that tells the VFS its kind.
func (in *inode) node() vfs.Node {
	switch in.mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return dirNode{in}
	case syscall.S_IFLNK:
		return linkNode{in}
	default:
		return fileNode{in}
	}
}

// drop decrements the link count after a name was removed.
func (in *inode) drop() {
	if in.isDir() {
		in.nlink = 0
	} else {
		in.nlink--
	}
	in.ctime = in.fs.now()
	if in.nlink == 0 {
		in.fs.inodes--
		// Open handles keep the data alive through Go's GC; the space
		// stops counting against MaxBytes now, as the name is gone.
		in.fs.pages -= int64(len(in.pages))
	}
}

// Root implements vfs.Filesystem.
func (fs *FS) Root() vfs.DirNode { return dirNode{fs.root} }

// Statfs implements vfs.Filesystem.
func (fs *FS) Statfs(st *syscall.Statfs_t) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	total := fs.opts.MaxBytes / pageSize
	if total == 0 {
		total = 1 << 20 // no cap: report 4 GiB so df-like tools see room
	}
	free := max(total-fs.pages, 0)
	*st = syscall.Statfs_t{
		Type: Magic, Bsize: pageSize, Frsize: pageSize,
		Blocks: uint64(total), Bfree: uint64(free), Bavail: uint64(free),
		Files: 1 << 20, Ffree: uint64(max(1<<20-fs.inodes, 0)), Namelen: 255,
	}
	return nil
}

// Attr implements vfs.Node for every kind.
func (in *inode) Attr() (vfs.Attr, error) {
	in.fs.mu.Lock()
	defer in.fs.mu.Unlock()
	a := vfs.Attr{
		Ino: in.ino, Mode: in.mode, Nlink: in.nlink, Uid: in.uid, Gid: in.gid,
		Blksize: pageSize, Atime: in.atime, Mtime: in.mtime, Ctime: in.ctime,
	}
	switch in.mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		a.Size = int64(len(in.children)+2) * 20 // Linux tmpfs: BOGO_DIRENT_SIZE per entry
	case syscall.S_IFLNK:
		a.Size = int64(len(in.target))
	default:
		a.Size = in.size
		a.Blocks = int64(len(in.pages)) * (pageSize / 512)
	}
	return a, nil
}

// SetAttr implements vfs.SetAttrer for every kind.
func (in *inode) SetAttr(sa vfs.SetAttr) error {
	in.fs.mu.Lock()
	defer in.fs.mu.Unlock()
	now := in.fs.now()
	if sa.Valid&vfs.SetSize != 0 {
		if in.mode&syscall.S_IFMT != syscall.S_IFREG {
			return syscall.EINVAL
		}
		if sa.Size != in.size {
			in.truncate(sa.Size)
		}
		// Linux updates the times on truncate even when the size is
		// unchanged for open(O_TRUNC); keep it simple and always do.
		in.mtime = now
	}
	if sa.Valid&vfs.SetMode != 0 {
		in.mode = in.mode&syscall.S_IFMT | sa.Mode&0o7777
	}
	if sa.Valid&vfs.SetUid != 0 {
		in.uid = sa.Uid
	}
	if sa.Valid&vfs.SetGid != 0 {
		in.gid = sa.Gid
	}
	if sa.Valid&vfs.SetAtime != 0 {
		in.atime = sa.Atime
	}
	if sa.Valid&vfs.SetMtime != 0 {
		in.mtime = sa.Mtime
	}
	in.ctime = now
	return nil
}

// dirNode is a tmpfs directory.
type dirNode struct{ *inode }

var _ vfs.WritableDir = dirNode{}

func (d dirNode) Lookup(name string) (vfs.Node, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	c, ok := d.children[name]
	if !ok {
		return nil, syscall.ENOENT
	}
	return c.node(), nil
}

func (d dirNode) ReadDir() ([]vfs.DirEntry, error) {
	d.fs.mu.Lock()
	out := make([]vfs.DirEntry, 0, len(d.children))
	for name, c := range d.children {
		out = append(out, vfs.DirEntry{Name: name, Ino: c.ino, Type: vfs.DirentType(c.mode)})
	}
	d.fs.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// add links a new inode under name; fs.mu must be held.
func (d dirNode) add(name string, in *inode) error {
	if _, ok := d.children[name]; ok {
		return syscall.EEXIST
	}
	if d.nlink == 0 {
		return syscall.ENOENT // the directory was removed while we held it
	}
	d.children[name] = in
	if in.isDir() {
		in.parent = d.inode
		d.nlink++
	}
	d.mtime = d.fs.now()
	d.ctime = d.mtime
	return nil
}

func (d dirNode) create(name string, mode uint32) (*inode, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if _, ok := d.children[name]; ok {
		return nil, syscall.EEXIST
	}
	in := d.fs.newInode(mode)
	if err := d.add(name, in); err != nil {
		d.fs.inodes--
		return nil, err
	}
	return in, nil
}

func (d dirNode) Create(name string, mode uint32) (vfs.Node, error) {
	in, err := d.create(name, syscall.S_IFREG|mode&0o7777)
	if err != nil {
		return nil, err
	}
	return in.node(), nil
}

func (d dirNode) Mkdir(name string, mode uint32) error {
	_, err := d.create(name, syscall.S_IFDIR|mode&0o7777)
	return err
}

func (d dirNode) Symlink(name, target string) error {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if _, ok := d.children[name]; ok {
		return syscall.EEXIST
	}
	in := d.fs.newInode(syscall.S_IFLNK | 0o777)
	in.target = target
	return d.add(name, in)
}

func (d dirNode) Link(name string, target vfs.Node) error {
	t, ok := inodeOf(target)
	if !ok || t.fs != d.fs {
		return syscall.EXDEV
	}
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	if t.isDir() {
		return syscall.EPERM
	}
	if t.nlink == 0 {
		return syscall.ENOENT // linkat of an unlinked (open) file
	}
	if err := d.add(name, t); err != nil {
		return err
	}
	t.nlink++
	t.ctime = d.fs.now()
	return nil
}

func inodeOf(n vfs.Node) (*inode, bool) {
	switch x := n.(type) {
	case dirNode:
		return x.inode, true
	case fileNode:
		return x.inode, true
	case linkNode:
		return x.inode, true
	}
	return nil, false
}

// remove unlinks name; fs.mu must be held.
func (d dirNode) remove(name string, c *inode) {
	delete(d.children, name)
	if c.isDir() {
		d.nlink--
	}
	c.drop()
	d.mtime = d.fs.now()
	d.ctime = d.mtime
}

func (d dirNode) Unlink(name string) error {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	c, ok := d.children[name]
	switch {
	case !ok:
		return syscall.ENOENT
	case c.isDir():
		return syscall.EISDIR
	}
	d.remove(name, c)
	return nil
}

func (d dirNode) Rmdir(name string) error {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	c, ok := d.children[name]
	switch {
	case !ok:
		return syscall.ENOENT
	case !c.isDir():
		return syscall.ENOTDIR
	case len(c.children) > 0:
		return syscall.ENOTEMPTY
	}
	d.remove(name, c)
	return nil
}

// linkNode is a tmpfs symbolic link.
type linkNode struct{ *inode }

func (l linkNode) Readlink() (string, error) {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	return l.target, nil
}
