package ext4fs

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// dir is a directory of a read-only mount: without vfs.WritableDir the
// VFS answers every change with EROFS.
type dir struct{ node }

// writableDir is a directory of a read-write mount.
type writableDir struct{ dir }

var (
	_ vfs.DirNode     = (*dir)(nil)
	_ vfs.WritableDir = (*writableDir)(nil)
)

// Lookup implements vfs.DirNode.
func (d *dir) Lookup(name string) (vfs.Node, error) {
	ino, err := d.f.fs.Lookup(d.ino, name)
	if err != nil {
		return nil, errno(err)
	}
	return d.f.node(ino)
}

// node makes the node for ino, reading its mode for the node's type.
func (f *FS) node(ino uint32) (vfs.Node, error) {
	s, err := f.fs.Stat(ino)
	if err != nil {
		return nil, errno(err)
	}
	return f.wrap(ino, s.Mode), nil
}

// ReadDir implements vfs.DirNode.
func (d *dir) ReadDir() ([]vfs.DirEntry, error) {
	ents, err := d.f.fs.ReadDir(d.ino)
	if err != nil {
		return nil, errno(err)
	}
	out := make([]vfs.DirEntry, 0, len(ents))
	for _, e := range ents {
		if e.Name == "." || e.Name == ".." {
			continue
		}
		out = append(out, vfs.DirEntry{Name: e.Name, Ino: uint64(e.Ino), Type: e.Type})
	}
	return out, nil
}

// Files the guest creates belong to root, as the guest runs as root.
const uid, gid = 0, 0

func (d *writableDir) Create(name string, mode uint32) (vfs.Node, error) {
	d.f.names.Lock()
	defer d.f.names.Unlock()
	ino, err := d.f.fs.Create(d.ino, name, mode&0o7777, uid, gid)
	if err != nil {
		return nil, errno(err)
	}
	return &file{node{d.f, ino}}, nil
}

func (d *writableDir) Mkdir(name string, mode uint32) error {
	d.f.names.Lock()
	defer d.f.names.Unlock()
	_, err := d.f.fs.Mkdir(d.ino, name, mode&0o7777, uid, gid)
	return errno(err)
}

func (d *writableDir) Symlink(name, target string) error {
	d.f.names.Lock()
	defer d.f.names.Unlock()
	_, err := d.f.fs.Symlink(d.ino, name, target, uid, gid)
	return errno(err)
}

// inoOf returns the inode of a node of file system f, or 0.
func (f *FS) inoOf(n vfs.Node) uint32 {
	var nd *node
	switch x := n.(type) {
	case *file:
		nd = &x.node
	case *symlink:
		nd = &x.node
	case *special:
		nd = &x.node
	case *dir:
		nd = &x.node
	case *writableDir:
		nd = &x.node
	default:
		return 0
	}
	if nd.f != f {
		return 0
	}
	return nd.ino
}

func (d *writableDir) Link(name string, target vfs.Node) error {
	d.f.names.Lock()
	defer d.f.names.Unlock()
	ino := d.f.inoOf(target)
	if ino == 0 {
		return syscall.EXDEV
	}
	if _, ok := target.(vfs.DirNode); ok {
		return syscall.EPERM
	}
	return errno(d.f.fs.Link(d.ino, name, ino))
}

// Unlink implements vfs.WritableDir: EISDIR for a directory.
func (d *writableDir) Unlink(name string) error {
	d.f.names.Lock()
	defer d.f.names.Unlock()
	ino, err := d.f.fs.Lookup(d.ino, name)
	if err != nil {
		return errno(err)
	}
	if s, err := d.f.fs.Stat(ino); err != nil {
		return errno(err)
	} else if s.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return syscall.EISDIR
	}
	return errno(d.f.fs.Unlink(d.ino, name))
}

func (d *writableDir) Rmdir(name string) error {
	d.f.names.Lock()
	defer d.f.names.Unlock()
	return errno(d.f.fs.Rmdir(d.ino, name))
}

// Rename implements vfs.WritableDir. ext4 moves and replaces; the renameat2
// flags are checked here, under FS.names so that no name can appear
// between the check and the move. RENAME_EXCHANGE is not supported
// (EINVAL, as on file systems without it).
func (d *writableDir) Rename(oldName string, newDir vfs.DirNode, newName string, flags uint) error {
	d.f.names.Lock()
	defer d.f.names.Unlock()
	nd := d.f.inoOf(newDir)
	if nd == 0 {
		return syscall.EXDEV
	}
	if flags&vfs.RENAME_EXCHANGE != 0 {
		return syscall.EINVAL
	}
	if flags&vfs.RENAME_NOREPLACE != 0 {
		if _, err := d.f.fs.Lookup(d.ino, oldName); err != nil {
			return errno(err)
		}
		switch _, err := d.f.fs.Lookup(nd, newName); {
		case err == nil:
			return syscall.EEXIST
		case err != syscall.ENOENT:
			return errno(err)
		}
	}
	return errno(d.f.fs.Rename(d.ino, oldName, nd, newName))
}
