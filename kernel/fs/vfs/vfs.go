package vfs

import (
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// VFS is the file system namespace of the (single) guest process: the
// mount table, the current directory and the umask.
type VFS struct {
	mu      sync.RWMutex
	root    *Dentry
	cwd     *Dentry
	mounts  map[mountKey]*mount
	nextDev uint32
	umask   atomic.Uint32

	flockTab atomic.Pointer[flockTable] // created on first flock
}

// mount is one mounted file system.
type mount struct {
	fs       Filesystem
	root     *Dentry
	parent   *mount // nil for the root mount
	dev      uint64 // st_dev of every node in it
	readOnly bool
	path     string
}

// mountKey names a mount point by the directory holding it and the name
// inside that directory. Keying by name (rather than by the covered node)
// lets a mount point exist without a directory on the mounted-on file
// system, so /tmp can be mounted on a read-only image that has no /tmp.
type mountKey struct {
	parent *mount
	dirIno uint64
	name   string
}

// Dentry is a resolved location in the namespace: a node, the mount it was
// reached through, and the path that reached it (for "..", getcwd and
// /proc/self/fd). Dentries are immutable and cheap; open directories and
// the current directory hold one.
//
// The parent chain records the path at resolution time: if a directory
// above the cwd is later renamed, Getcwd reports the old name (Linux
// would report the new one). Nothing else depends on it.
type Dentry struct {
	parent *Dentry // nil only for the namespace root
	name   string
	node   Node
	mnt    *mount
}

// Node returns the file system node.
func (d *Dentry) Node() Node { return d.node }

// Path returns the absolute path that reached d.
func (d *Dentry) Path() string {
	if d.parent == nil {
		return "/"
	}
	var elems []string
	for ; d.parent != nil; d = d.parent {
		elems = append(elems, d.name)
	}
	var sb strings.Builder
	for i := len(elems) - 1; i >= 0; i-- {
		sb.WriteByte('/')
		sb.WriteString(elems[i])
	}
	return sb.String()
}

// isMountRoot reports whether d is the root of its mount.
func (d *Dentry) isMountRoot() bool { return d.mnt.root == d }

// Options configures New.
type Options struct {
	// ReadOnly mounts the root file system read-only.
	ReadOnly bool
}

// New returns a namespace whose root is root, with cwd "/" and umask 022.
func New(root Filesystem, opts Options) *VFS {
	v := &VFS{mounts: map[mountKey]*mount{}}
	m := &mount{fs: root, readOnly: opts.ReadOnly, dev: v.allocDev(), path: "/"}
	m.root = &Dentry{node: root.Root(), mnt: m}
	v.root, v.cwd = m.root, m.root
	v.umask.Store(0o022)
	return v
}

// allocDev hands out anonymous device numbers (major 0), as Linux does
// for file systems without a block device.
func (v *VFS) allocDev() uint64 {
	v.nextDev++
	return Mkdev(0, v.nextDev+16)
}

// MountFlags configures Mount.
type MountFlags uint

const (
	// MountReadOnly makes every change under the mount fail with EROFS.
	MountReadOnly MountFlags = 1 << iota
)

// Mount attaches fs at target, an absolute path. The parent of target must
// exist; target itself may be a directory (which the mount hides) or
// absent (the mount point then exists only in the namespace). Mounting on
// a non-directory is ENOTDIR; mounting twice at the same place hides the
// first mount.
func (v *VFS) Mount(target string, fs Filesystem, flags MountFlags) error {
	if !strings.HasPrefix(target, "/") {
		return syscall.EINVAL
	}
	r := v.newResolver()
	dir, name, _, err := r.resolveParent(v.root, target)
	if err != nil {
		return err
	}
	if name == "" || name == "." || name == ".." {
		return syscall.EBUSY // the root (or a spelling of a directory that is already a mount's parent)
	}
	if d, err := v.lookupChild(dir, name); err == nil && !isDir(d.node) {
		return syscall.ENOTDIR
	} else if err != nil && err != syscall.ENOENT {
		return err
	}
	a, err := dir.node.Attr()
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	m := &mount{fs: fs, parent: dir.mnt, dev: v.allocDev(), readOnly: flags&MountReadOnly != 0}
	m.root = &Dentry{parent: dir, name: name, node: fs.Root(), mnt: m}
	m.path = m.root.Path()
	v.mounts[mountKey{dir.mnt, a.Ino, name}] = m
	return nil
}

// mountedAt returns the mount whose mount point is name in directory dir.
func (v *VFS) mountedAt(dir *Dentry, name string) *mount {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if len(v.mounts) == 0 {
		return nil
	}
	found := false
	for k := range v.mounts {
		if k.parent == dir.mnt && k.name == name {
			found = true
			break
		}
	}
	if !found {
		return nil // avoid an Attr call for directories without mounts
	}
	a, err := dir.node.Attr()
	if err != nil {
		return nil
	}
	return v.mounts[mountKey{dir.mnt, a.Ino, name}]
}

// mountNames lists the mount points inside dir, for directory listings.
func (v *VFS) mountNames(dir *Dentry) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var names []string
	var ino uint64
	haveIno := false
	for k := range v.mounts {
		if k.parent != dir.mnt {
			continue
		}
		if !haveIno {
			a, err := dir.node.Attr()
			if err != nil {
				return nil
			}
			ino, haveIno = a.Ino, true
		}
		if k.dirIno == ino {
			names = append(names, k.name)
		}
	}
	return names
}

// lookupChild returns the dentry for name in dir, crossing into a mount
// if one is there.
func (v *VFS) lookupChild(dir *Dentry, name string) (*Dentry, error) {
	if m := v.mountedAt(dir, name); m != nil {
		return m.root, nil
	}
	dn, ok := dir.node.(DirNode)
	if !ok {
		return nil, syscall.ENOTDIR
	}
	n, err := dn.Lookup(name)
	if err != nil {
		return nil, err
	}
	return &Dentry{parent: dir, name: name, node: n, mnt: dir.mnt}, nil
}

// Umask sets the file mode creation mask and returns the previous one.
func (v *VFS) Umask(mask uint32) uint32 { return v.umask.Swap(mask & 0o777) }

// Root returns the namespace root.
func (v *VFS) Root() *Dentry { return v.root }

// Cwd returns the current directory (AT_FDCWD).
func (v *VFS) Cwd() *Dentry {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.cwd
}

// base returns d, or the cwd for nil (the AT_FDCWD convention).
func (v *VFS) base(d *Dentry) *Dentry {
	if d == nil {
		return v.Cwd()
	}
	return d
}

// Getcwd returns the current directory's path; ENOENT if it was removed.
func (v *VFS) Getcwd() (string, error) {
	cwd := v.Cwd()
	if a, err := cwd.node.Attr(); err == nil && a.Nlink == 0 {
		return "", syscall.ENOENT
	}
	return cwd.Path(), nil
}

// Chdir changes the current directory to path, relative to base (nil for
// the cwd). Use Chdir(d, ".") for fchdir.
func (v *VFS) Chdir(base *Dentry, path string) error {
	d, err := v.newResolver().resolve(v.base(base), path, true)
	if err != nil {
		return err
	}
	if !isDir(d.node) {
		return syscall.ENOTDIR
	}
	v.mu.Lock()
	v.cwd = d
	v.mu.Unlock()
	return nil
}

// SyncAll makes every mounted file system's completed changes durable, as
// sync(2) does: each file system that is an FSSyncer is synced (the root's
// too). The first error is returned; the others are still tried.
func (v *VFS) SyncAll() error {
	v.mu.RLock()
	fss := []Filesystem{v.root.mnt.fs}
	for _, m := range v.mounts {
		fss = append(fss, m.fs)
	}
	v.mu.RUnlock()
	var first error
	for _, fs := range fss {
		if s, ok := fs.(FSSyncer); ok {
			if err := s.Sync(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// SyncFS syncs the file system that d lives on, as syncfs(2) does.
func (d *Dentry) SyncFS() error {
	if s, ok := d.mnt.fs.(FSSyncer); ok {
		return s.Sync()
	}
	return nil
}
