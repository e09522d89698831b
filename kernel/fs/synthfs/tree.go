// Package synthfs builds small read-only file systems whose contents are
// computed rather than stored: /dev (null, zero, urandom, ...), /proc and
// /sys. A Tree is assembled once at boot; file contents are generated
// each time a file is opened, so they reflect the facts of that moment.
//
// Execution context: service context; unit-tested on the host.
package synthfs

import (
	"sort"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// Statfs f_type values.
const (
	ProcMagic  = 0x9fa0
	SysfsMagic = 0x62656572
	TmpfsMagic = 0x01021994 // devtmpfs reports tmpfs's magic
)

// Tree is a synthetic file system. Build it with Dir, File, Symlink and
// Device before mounting; it must not change afterwards.
type Tree struct {
	magic   int64
	root    *Dir
	nextIno atomic.Uint64
}

// New returns a tree with an empty root directory.
func New(magic int64) *Tree {
	t := &Tree{magic: magic}
	t.root = &Dir{attrs: t.attrs(syscall.S_IFDIR | 0o555), children: map[string]vfs.Node{}}
	return t
}

func (t *Tree) attrs(mode uint32) vfs.Attr {
	return vfs.Attr{Ino: t.nextIno.Add(1), Mode: mode, Nlink: 1, Blksize: 4096}
}

// Root implements vfs.Filesystem and returns the root directory for building.
func (t *Tree) Root() vfs.DirNode { return t.root }

// RootDir returns the root directory for building.
func (t *Tree) RootDir() *Dir { return t.root }

// Statfs implements vfs.Filesystem.
func (t *Tree) Statfs(st *syscall.Statfs_t) error {
	*st = syscall.Statfs_t{Type: t.magic, Bsize: 4096, Frsize: 4096, Namelen: 255}
	return nil
}

// NewLazy returns a tree that build fills on its first lookup or listing
// rather than now: assembling /proc and /sys (and computing the facts they
// need) is work every boot would otherwise do before main, for files most
// programs never read.
func NewLazy(magic int64, build func(t *Tree)) *Tree {
	t := New(magic)
	t.root.fill = sync.OnceFunc(func() { build(t) })
	return t
}

// Dir is a synthetic directory.
type Dir struct {
	attrs    vfs.Attr
	children map[string]vfs.Node
	fill     func() // builds a lazy tree (its root only), once
}

// ready builds a lazy tree before its root is read.
func (d *Dir) ready() {
	if d.fill != nil {
		d.fill()
	}
}

// Dir adds (or returns the existing) subdirectory name.
func (t *Tree) Dir(parent *Dir, name string) *Dir {
	if d, ok := parent.children[name].(*Dir); ok {
		return d
	}
	d := &Dir{attrs: t.attrs(syscall.S_IFDIR | 0o555), children: map[string]vfs.Node{}}
	parent.children[name] = d
	parent.attrs.Nlink++
	return d
}

// Path adds the directories of a slash-separated path below parent and
// returns the last.
func (t *Tree) Path(parent *Dir, names ...string) *Dir {
	for _, n := range names {
		parent = t.Dir(parent, n)
	}
	return parent
}

func (d *Dir) Attr() (vfs.Attr, error) {
	a := d.attrs
	a.Nlink += 1
	return a, nil
}

func (d *Dir) Lookup(name string) (vfs.Node, error) {
	d.ready()
	if n, ok := d.children[name]; ok {
		return n, nil
	}
	return nil, syscall.ENOENT
}

func (d *Dir) ReadDir() ([]vfs.DirEntry, error) {
	d.ready()
	out := make([]vfs.DirEntry, 0, len(d.children))
	for name, n := range d.children {
		a, _ := n.Attr()
		out = append(out, vfs.DirEntry{Name: name, Ino: a.Ino, Type: vfs.DirentType(a.Mode)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// File is a read-only regular file whose contents gen computes at open.
// Like procfs files it reports size 0; readers read until EOF.
type File struct {
	attrs vfs.Attr
	gen   func() []byte
}

// File adds a generated file.
func (t *Tree) File(parent *Dir, name string, perm uint32, gen func() []byte) {
	parent.children[name] = &File{attrs: t.attrs(syscall.S_IFREG | perm), gen: gen}
}

func (f *File) Attr() (vfs.Attr, error) { return f.attrs, nil }

// Open snapshots the contents. Write access is EACCES, as for read-only
// procfs files.
func (f *File) Open(flags int) (vfs.Handle, error) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, syscall.EACCES
	}
	return vfs.Snapshot(f.gen()), nil
}

// Symlink is a link whose target target computes on each readlink.
type Symlink struct {
	attrs  vfs.Attr
	target func() string
}

// Symlink adds a link.
func (t *Tree) Symlink(parent *Dir, name string, target func() string) {
	parent.children[name] = &Symlink{attrs: t.attrs(syscall.S_IFLNK | 0o777), target: target}
}

func (l *Symlink) Attr() (vfs.Attr, error) {
	a := l.attrs
	a.Size = int64(len(l.target()))
	return a, nil
}
func (l *Symlink) Readlink() (string, error) { return l.target(), nil }

// Device is a node that opens into its own description.
type Device struct {
	attrs vfs.Attr
	open  func(flags int, attrs vfs.Attr) (fdesc.Description, error)
}

// Device adds a device node with the given mode (type and permissions)
// and device number.
func (t *Tree) Device(parent *Dir, name string, mode uint32, rdev uint64, open func(flags int, attrs vfs.Attr) (fdesc.Description, error)) {
	a := t.attrs(mode)
	a.Rdev = rdev
	parent.children[name] = &Device{attrs: a, open: open}
}

func (d *Device) Attr() (vfs.Attr, error) { return d.attrs, nil }
func (d *Device) OpenDescription(flags int) (fdesc.Description, error) {
	return d.open(flags, d.attrs)
}
