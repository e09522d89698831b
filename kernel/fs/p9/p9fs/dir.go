package p9fs

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/fs/p9"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// dir is a directory of a read-only share: it does not implement
// vfs.WritableDir, so the VFS answers every change with EROFS.
type dir struct{ node }

// writableDir is a directory of a read-write share.
type writableDir struct{ dir }

var (
	_ vfs.DirNode     = (*dir)(nil)
	_ vfs.WritableDir = (*writableDir)(nil)
)

// Lookup implements vfs.DirNode with one Twalk.
func (d *dir) Lookup(name string) (vfs.Node, error) {
	f, err := d.fid.Walk(name)
	if err != nil {
		return nil, errno(err)
	}
	f.AutoClunk()
	return d.fs.wrap(f), nil
}

// ReadDir implements vfs.DirNode: the directory is opened on a fid of its
// own and listed to the end.
func (d *dir) ReadDir() ([]vfs.DirEntry, error) {
	of, err := d.fid.Walk()
	if err != nil {
		return nil, errno(err)
	}
	defer of.Clunk()
	if err := of.Open(syscall.O_RDONLY | syscall.O_DIRECTORY); err != nil {
		return nil, errno(err)
	}
	ents, err := of.ReadDirAll()
	if err != nil {
		return nil, errno(err)
	}
	out := make([]vfs.DirEntry, 0, len(ents))
	for _, e := range ents {
		if e.Name == "." || e.Name == ".." {
			continue
		}
		out = append(out, vfs.DirEntry{Name: e.Name, Ino: e.Qid.Path, Type: e.Type})
	}
	return out, nil
}

// Create implements vfs.WritableDir. Tlcreate turns the fid it is sent on
// into the new, open file; the node needs an unopened fid, so the file is
// created on a throwaway clone and then walked to.
func (d *writableDir) Create(name string, mode uint32) (vfs.Node, error) {
	cf, err := d.fid.Walk()
	if err != nil {
		return nil, errno(err)
	}
	// O_EXCL makes an existing name EEXIST, as WritableDir requires.
	err = cf.Create(name, syscall.O_RDONLY|syscall.O_EXCL, mode&0o7777, d.fs.opts.GID)
	if err != nil {
		cf.Clunk()
		return nil, errno(err)
	}
	cf.AutoClunk() // no need to wait for the reply to its Tclunk
	return d.Lookup(name)
}

func (d *writableDir) Mkdir(name string, mode uint32) error {
	_, err := d.fid.Mkdir(name, mode&0o7777, d.fs.opts.GID)
	return errno(err)
}

func (d *writableDir) Symlink(name, target string) error {
	_, err := d.fid.Symlink(name, target, d.fs.opts.GID)
	return errno(err)
}

// Link implements vfs.WritableDir with Tlink of the target's fid.
func (d *writableDir) Link(name string, target vfs.Node) error {
	t := fidOf(target)
	if t == nil || t.Client() != d.fid.Client() {
		return syscall.EXDEV
	}
	return errno(d.fid.Link(t, name))
}

// fidOf returns the fid of a node of this package, or nil.
func fidOf(n vfs.Node) *p9.Fid {
	switch x := n.(type) {
	case *file:
		return x.fid
	case *symlink:
		return x.fid
	case *dir:
		return x.fid
	case *writableDir:
		return x.fid
	}
	return nil
}

// Unlink implements vfs.WritableDir; the host's unlink(2) reports EISDIR
// for a directory, as the interface requires.
func (d *writableDir) Unlink(name string) error { return errno(d.fid.UnlinkAt(name, 0)) }

// Rmdir implements vfs.WritableDir (ENOTDIR, ENOTEMPTY from the host).
func (d *writableDir) Rmdir(name string) error {
	return errno(d.fid.UnlinkAt(name, p9.AT_REMOVEDIR))
}

// Rename implements vfs.WritableDir with Trenameat. 9P2000.L has no
// renameat2 flags: RENAME_NOREPLACE is checked with a walk first (so a
// file the host creates in between is replaced), RENAME_EXCHANGE is not
// possible and reports EINVAL, as Linux's own 9P client does.
func (d *writableDir) Rename(oldName string, newDir vfs.DirNode, newName string, flags uint) error {
	nd := fidOf(newDir)
	if nd == nil || nd.Client() != d.fid.Client() {
		return syscall.EXDEV
	}
	if flags&vfs.RENAME_EXCHANGE != 0 {
		return syscall.EINVAL
	}
	if flags&vfs.RENAME_NOREPLACE != 0 {
		// Linux looks the source up first: a missing source is
		// ENOENT even when the target exists.
		of, err := d.fid.Walk(oldName)
		if err != nil {
			return errno(err)
		}
		of.Clunk()
		switch f, err := nd.Walk(newName); {
		case err == nil:
			f.Clunk()
			return syscall.EEXIST
		case errno(err) != syscall.ENOENT:
			return errno(err)
		}
	}
	return errno(d.fid.RenameAt(oldName, nd, newName))
}
