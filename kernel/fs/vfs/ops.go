package vfs

import (
	"strings"
	"syscall"
	"time"
)

// The *at flags, Linux values.
const (
	AT_SYMLINK_NOFOLLOW = 0x100
	AT_REMOVEDIR        = 0x200
	AT_SYMLINK_FOLLOW   = 0x400
	AT_EACCESS          = 0x200 // faccessat only, same bit as AT_REMOVEDIR
	AT_EMPTY_PATH       = 0x1000
)

// lookupAt resolves path for the stat-like calls: AT_EMPTY_PATH with an
// empty path means base itself, AT_SYMLINK_NOFOLLOW (or follow=false)
// stops at a final symlink.
func (v *VFS) lookupAt(base *Dentry, path string, flags int, follow bool) (*Dentry, error) {
	if path == "" && flags&AT_EMPTY_PATH != 0 {
		return v.base(base), nil
	}
	if flags&AT_SYMLINK_NOFOLLOW != 0 {
		follow = false
	}
	return v.newResolver().resolve(v.base(base), path, follow)
}

// MkdirAt is mkdirat(2).
func (v *VFS) MkdirAt(base *Dentry, path string, mode uint32) error {
	dir, name, _, err := v.newResolver().resolveParent(v.base(base), path)
	if err != nil {
		return err
	}
	if name == "" || name == "." || name == ".." {
		return syscall.EEXIST
	}
	// An existing name wins over EROFS, as on Linux.
	if _, err := v.lookupChild(dir, name); err == nil {
		return syscall.EEXIST
	} else if err != syscall.ENOENT {
		return err
	}
	wd, err := writable(dir)
	if err != nil {
		return err
	}
	return wd.Mkdir(name, mode&0o7777&^v.umask.Load())
}

// UnlinkAt is unlinkat(2); flags may hold AT_REMOVEDIR (rmdir).
func (v *VFS) UnlinkAt(base *Dentry, path string, flags int) error {
	if flags&^AT_REMOVEDIR != 0 {
		return syscall.EINVAL
	}
	rmdir := flags&AT_REMOVEDIR != 0
	dir, name, slash, err := v.newResolver().resolveParent(v.base(base), path)
	if err != nil {
		return err
	}
	switch {
	case name == "" && rmdir:
		return syscall.EBUSY
	case name == "." && rmdir:
		return syscall.EINVAL
	case name == ".." && rmdir:
		return syscall.ENOTEMPTY
	case name == "" || name == "." || name == "..":
		return syscall.EISDIR
	}
	// Unlike creation, removal checks for a read-only mount before
	// looking the name up (Linux's do_unlinkat and do_rmdir).
	wd, err := writable(dir)
	if err != nil {
		return err
	}
	child, err := v.lookupChild(dir, name)
	if err != nil {
		return err
	}
	dirTarget := isDir(child.node)
	switch {
	case !rmdir && dirTarget:
		return syscall.EISDIR
	case !rmdir && slash, rmdir && !dirTarget:
		return syscall.ENOTDIR
	case child.isMountRoot():
		return syscall.EBUSY
	}
	if rmdir {
		return wd.Rmdir(name)
	}
	return wd.Unlink(name)
}

// RenameAt2 is renameat2(2) (renameat and rename are flags == 0). The
// checks follow Linux's do_renameat2 order, which decides the errno when
// several apply.
func (v *VFS) RenameAt2(oldBase *Dentry, oldPath string, newBase *Dentry, newPath string, flags uint) error {
	if flags&^(RENAME_NOREPLACE|RENAME_EXCHANGE|RENAME_WHITEOUT) != 0 ||
		flags&RENAME_WHITEOUT != 0 ||
		flags&(RENAME_NOREPLACE|RENAME_EXCHANGE) == RENAME_NOREPLACE|RENAME_EXCHANGE {
		return syscall.EINVAL
	}
	r := v.newResolver()
	oldDir, oldName, oldSlash, err := r.resolveParent(v.base(oldBase), oldPath)
	if err != nil {
		return err
	}
	newDir, newName, newSlash, err := r.resolveParent(v.base(newBase), newPath)
	if err != nil {
		return err
	}
	if oldDir.mnt != newDir.mnt {
		return syscall.EXDEV
	}
	if oldName == "" || oldName == "." || oldName == ".." {
		return syscall.EBUSY
	}
	if newName == "" || newName == "." || newName == ".." {
		if flags&RENAME_NOREPLACE != 0 {
			return syscall.EEXIST
		}
		return syscall.EBUSY
	}
	wd, err := writable(oldDir)
	if err != nil {
		return err
	}
	oldD, err := v.lookupChild(oldDir, oldName)
	if err != nil {
		return err
	}
	newD, err := v.lookupChild(newDir, newName)
	switch {
	case err == syscall.ENOENT:
		newD = nil
	case err != nil:
		return err
	case flags&RENAME_NOREPLACE != 0:
		return syscall.EEXIST
	}
	if flags&RENAME_EXCHANGE != 0 {
		if newD == nil {
			return syscall.ENOENT
		}
		if !isDir(newD.node) && newSlash {
			return syscall.ENOTDIR
		}
	}
	oldIsDir := isDir(oldD.node)
	if !oldIsDir && (oldSlash || (newSlash && flags&RENAME_EXCHANGE == 0)) {
		return syscall.ENOTDIR
	}
	// The source may not be an ancestor of the target's directory, nor
	// (unless exchanging) the target an ancestor of the source's.
	if oldIsDir && isUnder(newDir, oldD) {
		return syscall.EINVAL
	}
	if newD != nil && isDir(newD.node) && isUnder(oldDir, newD) {
		if flags&RENAME_EXCHANGE != 0 {
			return syscall.EINVAL
		}
		return syscall.ENOTEMPTY
	}
	if oldD.isMountRoot() || (newD != nil && newD.isMountRoot()) {
		return syscall.EBUSY
	}
	if err := wd.Rename(oldName, newDir.node.(DirNode), newName, flags); err != nil {
		return err
	}
	v.renameCwd(oldD.Path(), newDir, newName, flags)
	return nil
}

// renameCwd keeps Getcwd right when a directory on the cwd's path moved:
// dentries record the path that reached them, so the cwd is re-resolved
// under its new name. (Open directory descriptions keep their old path.)
func (v *VFS) renameCwd(oldFull string, newDir *Dentry, newName string, flags uint) {
	newFull := strings.TrimSuffix(newDir.Path(), "/") + "/" + newName
	cwdD := v.Cwd()
	cwd := cwdD.Path()
	moved := func(from, to string) (string, bool) {
		if cwd == from || strings.HasPrefix(cwd, from+"/") {
			return to + cwd[len(from):], true
		}
		return "", false
	}
	p, ok := moved(oldFull, newFull)
	if !ok && flags&RENAME_EXCHANGE != 0 {
		p, ok = moved(newFull, oldFull)
	}
	if !ok {
		return
	}
	// Resolve without v.mu (the walk takes it); install only if no
	// chdir happened meanwhile.
	d, err := v.newResolver().resolve(v.root, p, true)
	if err != nil {
		return
	}
	v.mu.Lock()
	if v.cwd == cwdD {
		v.cwd = d
	}
	v.mu.Unlock()
}

// LinkAt is linkat(2); flags may hold AT_SYMLINK_FOLLOW and AT_EMPTY_PATH.
// The checks come in Linux's order: the old path, then the new name
// (EEXIST, ENOENT for a trailing slash, EROFS), then EXDEV, then EPERM
// for a directory.
func (v *VFS) LinkAt(oldBase *Dentry, oldPath string, newBase *Dentry, newPath string, flags int) error {
	if flags&^(AT_SYMLINK_FOLLOW|AT_EMPTY_PATH) != 0 {
		return syscall.EINVAL
	}
	old, err := v.lookupAt(oldBase, oldPath, flags&AT_EMPTY_PATH, flags&AT_SYMLINK_FOLLOW != 0)
	if err != nil {
		return err
	}
	dir, name, err := v.createTarget(newBase, newPath)
	if err != nil {
		return err
	}
	wd, err := writable(dir)
	if err != nil {
		return err
	}
	if old.mnt != dir.mnt {
		return syscall.EXDEV
	}
	if isDir(old.node) {
		return syscall.EPERM
	}
	return wd.Link(name, old.node)
}

// createTarget resolves the new name of link or symlink: it must not exist
// (EEXIST, also for ".", ".." and "/") and, as these never make
// directories, must not end in a slash (ENOENT).
func (v *VFS) createTarget(base *Dentry, path string) (*Dentry, string, error) {
	dir, name, slash, err := v.newResolver().resolveParent(v.base(base), path)
	if err != nil {
		return nil, "", err
	}
	if name == "" || name == "." || name == ".." {
		return nil, "", syscall.EEXIST
	}
	if _, err := v.lookupChild(dir, name); err == nil {
		return nil, "", syscall.EEXIST
	} else if err != syscall.ENOENT {
		return nil, "", err
	}
	if slash {
		return nil, "", syscall.ENOENT
	}
	return dir, name, nil
}

// SymlinkAt is symlinkat(2).
func (v *VFS) SymlinkAt(target string, base *Dentry, path string) error {
	if target == "" {
		return syscall.ENOENT
	}
	if len(target) >= pathMax {
		return syscall.ENAMETOOLONG
	}
	dir, name, err := v.createTarget(base, path)
	if err != nil {
		return err
	}
	wd, err := writable(dir)
	if err != nil {
		return err
	}
	return wd.Symlink(name, target)
}

// ReadlinkAt is readlinkat(2): EINVAL if the path is not a symlink. The
// caller truncates the result to the user's buffer, as Linux does.
func (v *VFS) ReadlinkAt(base *Dentry, path string) (string, error) {
	d, err := v.lookupAt(base, path, AT_EMPTY_PATH, false)
	if err != nil {
		return "", err
	}
	l, ok := d.node.(SymlinkNode)
	if !ok {
		return "", syscall.EINVAL
	}
	return l.Readlink()
}

// StatAt is newfstatat(2) (stat, lstat and fstat are special cases); flags
// may hold AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH.
func (v *VFS) StatAt(base *Dentry, path string, st *syscall.Stat_t, flags int) error {
	if flags&^(AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH) != 0 {
		return syscall.EINVAL
	}
	d, err := v.lookupAt(base, path, flags, true)
	if err != nil {
		return err
	}
	return statDentry(d, st)
}

// setAttrAt applies a metadata change to the node at path.
func (v *VFS) setAttrAt(base *Dentry, path string, flags int, sa SetAttr) error {
	d, err := v.lookupAt(base, path, flags, true)
	if err != nil {
		return err
	}
	if isSymlink(d.node) && sa.Valid&SetMode != 0 {
		return syscall.EOPNOTSUPP // fchmodat(AT_SYMLINK_NOFOLLOW) on a link
	}
	if d.mnt.readOnly {
		return syscall.EROFS
	}
	s, ok := d.node.(SetAttrer)
	if !ok {
		if _, w := d.node.(WritableDir); !w && isDir(d.node) {
			return syscall.EROFS
		}
		return syscall.EPERM
	}
	return s.SetAttr(sa)
}

// ChmodAt is fchmodat(2); use AT_EMPTY_PATH with "" for fchmod.
func (v *VFS) ChmodAt(base *Dentry, path string, mode uint32, flags int) error {
	if flags&^(AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH) != 0 {
		return syscall.EINVAL
	}
	return v.setAttrAt(base, path, flags, SetAttr{Valid: SetMode, Mode: mode & 0o7777})
}

// UtimensAt is utimensat(2). times nil means both now; a tv_nsec of
// UTIME_NOW or UTIME_OMIT means now or unchanged.
func (v *VFS) UtimensAt(base *Dentry, path string, times *[2]syscall.Timespec, flags int) error {
	if flags&^(AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH) != 0 {
		return syscall.EINVAL
	}
	now := syscall.NsecToTimespec(time.Now().UnixNano())
	sa := SetAttr{Valid: SetAtime | SetMtime, Atime: now, Mtime: now}
	if times != nil {
		sa.Valid = 0
		for i, t := range times {
			valid, dst := SetAtime, &sa.Atime
			if i == 1 {
				valid, dst = SetMtime, &sa.Mtime
			}
			switch {
			case t.Nsec == UTIME_OMIT:
				continue
			case t.Nsec == UTIME_NOW:
			case t.Nsec < 0 || t.Nsec >= 1e9:
				return syscall.EINVAL
			default:
				*dst = t
			}
			sa.Valid |= valid
		}
		if sa.Valid == 0 {
			// Both omitted: Linux still checks that the path exists.
			_, err := v.lookupAt(base, path, flags, true)
			return err
		}
	}
	return v.setAttrAt(base, path, flags, sa)
}

// TruncateAt is truncate(2) (ftruncate goes through the description).
func (v *VFS) TruncateAt(base *Dentry, path string, size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	d, err := v.lookupAt(base, path, 0, true)
	if err != nil {
		return err
	}
	switch d.node.(type) {
	case DirNode:
		return syscall.EISDIR
	case FileNode:
	default:
		return syscall.EINVAL
	}
	if d.mnt.readOnly {
		return syscall.EROFS
	}
	return setSize(d.node, size)
}

// ST_RDONLY is statfs's f_flags bit for read-only mounts.
const ST_RDONLY = 1

// StatfsAt is statfs(2); use AT_EMPTY_PATH semantics ("" with a base) for
// fstatfs via StatfsAt(d, "").
func (v *VFS) StatfsAt(base *Dentry, path string, st *syscall.Statfs_t) error {
	d, err := v.lookupAt(base, path, AT_EMPTY_PATH, true)
	if err != nil {
		return err
	}
	*st = syscall.Statfs_t{}
	if err := d.mnt.fs.Statfs(st); err != nil {
		return err
	}
	if d.mnt.readOnly {
		st.Flags |= ST_RDONLY
	}
	return nil
}

// Access modes for AccessAt.
const (
	F_OK = 0
	X_OK = 1
	W_OK = 2
	R_OK = 4
)

// AccessAt is faccessat2(2) for a root caller: it checks existence, EROFS
// for W_OK on a read-only mount, and that a non-directory has at least
// one execute bit for X_OK (root may read and write anything).
func (v *VFS) AccessAt(base *Dentry, path string, mode uint32, flags int) error {
	if mode&^7 != 0 || flags&^(AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH|AT_EACCESS) != 0 {
		return syscall.EINVAL
	}
	d, err := v.lookupAt(base, path, flags, true)
	if err != nil {
		return err
	}
	if mode&W_OK != 0 && d.mnt.readOnly && !isDevice(d.node) {
		return syscall.EROFS
	}
	if mode&X_OK != 0 && !isDir(d.node) {
		a, err := d.node.Attr()
		if err != nil {
			return err
		}
		if a.Mode&0o111 == 0 {
			return syscall.EACCES
		}
	}
	return nil
}

func isDevice(n Node) bool { _, ok := n.(DeviceNode); return ok }
