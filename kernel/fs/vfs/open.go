package vfs

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// Status flags kept in a description: fcntl(F_GETFL) reports them. Linux
// drops the open-time-only flags (O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC) and
// on 64-bit always reports O_LARGEFILE.
const (
	keptFlags = syscall.O_ACCMODE | syscall.O_APPEND | syscall.O_NONBLOCK | syscall.O_DSYNC |
		syscall.O_SYNC | syscall.O_DIRECT | syscall.O_NOATIME | syscall.O_ASYNC |
		syscall.O_DIRECTORY | syscall.O_NOFOLLOW
	// SettableFlags are the flags fcntl(F_SETFL) may change.
	SettableFlags = syscall.O_APPEND | syscall.O_ASYNC | syscall.O_DIRECT | syscall.O_NOATIME | syscall.O_NONBLOCK
)

// O_LARGEFILE is Linux amd64's value. Package syscall defines it as 0 on
// amd64 (it is implied there), but F_GETFL reports the real bit.
const O_LARGEFILE = 0x8000

// StatusFlags turns open flags into the status flags a description keeps.
func StatusFlags(flags int) int { return flags&keptFlags | O_LARGEFILE }

func wantsWrite(flags int) bool { return flags&syscall.O_ACCMODE != syscall.O_RDONLY }

// OpenAt opens path relative to base (nil for the cwd) as openat(2) does
// and returns the new open file description. mode is used with O_CREAT
// and is masked by the umask. O_CLOEXEC is the caller's business (it is a
// property of the descriptor, not of the description).
func (v *VFS) OpenAt(base *Dentry, path string, flags int, mode uint32) (fdesc.Description, error) {
	if flags&oTmpfileBit != 0 {
		return nil, syscall.EOPNOTSUPP
	}
	if flags&syscall.O_CREAT != 0 && flags&syscall.O_DIRECTORY != 0 {
		return nil, syscall.EINVAL // Linux 6.4 and later
	}
	r := v.newResolver()
	var d *Dentry
	created := false
	if flags&syscall.O_CREAT != 0 {
		var err error
		if d, created, err = r.openCreate(v.base(base), path, flags, mode&0o7777&^v.umask.Load()); err != nil {
			return nil, err
		}
	} else {
		var err error
		if d, err = r.resolve(v.base(base), path, flags&syscall.O_NOFOLLOW == 0); err != nil {
			return nil, err
		}
	}
	return v.openDentry(d, flags, created)
}

// openCreate handles O_CREAT: it finds or creates the last element, and
// follows a symlink there (even a dangling one, creating its target)
// unless O_EXCL or O_NOFOLLOW forbid it.
func (r *resolver) openCreate(base *Dentry, path string, flags int, perm uint32) (*Dentry, bool, error) {
	for {
		dir, name, slash, err := r.resolveParent(base, path)
		if err != nil {
			return nil, false, err
		}
		if name == "" || name == "." || name == ".." {
			// An existing directory: O_EXCL says it exists, otherwise
			// O_CREAT cannot open a directory.
			if flags&syscall.O_EXCL != 0 {
				return nil, false, syscall.EEXIST
			}
			return nil, false, syscall.EISDIR
		}
		if slash {
			return nil, false, syscall.EISDIR // O_CREAT never makes directories
		}
		child, err := r.v.lookupChild(dir, name)
		switch {
		case err == syscall.ENOENT:
			wd, err := writable(dir)
			if err != nil {
				return nil, false, err
			}
			n, err := wd.Create(name, perm)
			if err != nil {
				return nil, false, err
			}
			return &Dentry{parent: dir, name: name, node: n, mnt: dir.mnt}, true, nil
		case err != nil:
			return nil, false, err
		case flags&syscall.O_EXCL != 0:
			return nil, false, syscall.EEXIST
		case isSymlink(child.node):
			if flags&syscall.O_NOFOLLOW != 0 {
				return nil, false, syscall.ELOOP
			}
			r.links++
			if r.links > maxSymlinks {
				return nil, false, syscall.ELOOP
			}
			target, err := child.node.(SymlinkNode).Readlink()
			if err != nil {
				return nil, false, err
			}
			base, path = dir, target
			continue
		case isDir(child.node):
			return nil, false, syscall.EISDIR
		}
		return child, false, nil
	}
}

// openDentry makes the description for a resolved dentry.
func (v *VFS) openDentry(d *Dentry, flags int, created bool) (fdesc.Description, error) {
	switch n := d.node.(type) {
	case SymlinkNode:
		// O_NOFOLLOW stopped on a link (O_PATH is not supported).
		if flags&syscall.O_DIRECTORY != 0 {
			return nil, syscall.ENOTDIR
		}
		return nil, syscall.ELOOP
	case DirNode:
		if wantsWrite(flags) {
			return nil, syscall.EISDIR
		}
		return &dirDesc{v: v, d: d, flags: StatusFlags(flags)}, nil
	case DeviceNode:
		if flags&syscall.O_DIRECTORY != 0 {
			return nil, syscall.ENOTDIR
		}
		return n.OpenDescription(flags)
	case FileNode:
		if flags&syscall.O_DIRECTORY != 0 {
			return nil, syscall.ENOTDIR
		}
		if (wantsWrite(flags) || flags&syscall.O_TRUNC != 0) && d.mnt.readOnly {
			return nil, syscall.EROFS
		}
		h, err := n.Open(flags)
		if err != nil {
			return nil, err
		}
		// Linux truncates with O_TRUNC even for O_RDONLY; a file we just
		// created is empty already.
		if flags&syscall.O_TRUNC != 0 && !created {
			if err := setSize(n, 0); err != nil {
				h.Close()
				return nil, err
			}
		}
		return &fileDesc{v: v, d: d, node: n, h: h, flags: StatusFlags(flags)}, nil
	}
	return nil, syscall.ENXIO
}

func setSize(n Node, size int64) error {
	sa, ok := n.(SetAttrer)
	if !ok {
		return syscall.EROFS
	}
	return sa.SetAttr(SetAttr{Valid: SetSize, Size: size})
}

// DentryOf returns the location of a description the VFS opened (for
// dirfd arguments, fchdir and AT_EMPTY_PATH), or nil for other kinds of
// descriptions (pipes, sockets, devices).
func DentryOf(d fdesc.Description) *Dentry {
	switch x := d.(type) {
	case *dirDesc:
		return x.d
	case *fileDesc:
		return x.d
	}
	return nil
}
