package vfs

import (
	"strings"
	"syscall"
)

// resolver walks paths. One resolver serves one system call, so the
// symlink budget (40, like Linux) covers every link the call follows,
// including links met while resolving other links' targets.
type resolver struct {
	v     *VFS
	links int
}

func (v *VFS) newResolver() *resolver { return &resolver{v: v} }

// checkPath rejects paths Linux rejects before walking.
func checkPath(p string) error {
	switch {
	case p == "":
		return syscall.ENOENT
	case len(p) >= pathMax:
		return syscall.ENAMETOOLONG
	case strings.IndexByte(p, 0) >= 0:
		return syscall.EINVAL
	}
	return nil
}

// up returns the parent of d, staying put at the namespace root. A mount
// root's parent is the directory holding its mount point, so ".." leaves
// the mount the way it was entered.
func up(d *Dentry) *Dentry {
	if d.parent == nil {
		return d
	}
	return d.parent
}

// followLink resolves the symlink at d (found in directory dir) to what it
// points to.
func (r *resolver) followLink(dir, d *Dentry) (*Dentry, error) {
	r.links++
	if r.links > maxSymlinks {
		return nil, syscall.ELOOP
	}
	target, err := d.node.(SymlinkNode).Readlink()
	if err != nil {
		return nil, err
	}
	return r.resolve(dir, target, true)
}

// resolve walks p from base. Symlinks before the last element are always
// followed; the last one only if follow is true or p ends in "/". A
// trailing "/" also requires the result to be a directory (ENOTDIR).
func (r *resolver) resolve(base *Dentry, p string, follow bool) (*Dentry, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	d := base
	if p[0] == '/' {
		d = r.v.root
	}
	trailingSlash := strings.HasSuffix(p, "/")
	if trailingSlash {
		follow = true
	}
	elems := strings.Split(p, "/")
	last := len(elems) - 1
	for last > 0 && elems[last] == "" {
		last--
	}
	for i, el := range elems {
		switch el {
		case "":
			continue
		case ".", "..":
			if !isDir(d.node) {
				return nil, syscall.ENOTDIR
			}
			if el == ".." {
				d = up(d)
			}
			continue
		}
		if len(el) > nameMax {
			return nil, syscall.ENAMETOOLONG
		}
		if !isDir(d.node) {
			return nil, syscall.ENOTDIR
		}
		child, err := r.v.lookupChild(d, el)
		if err != nil {
			return nil, err
		}
		if isSymlink(child.node) && (i < last || follow) {
			if child, err = r.followLink(d, child); err != nil {
				return nil, err
			}
		}
		d = child
	}
	if trailingSlash && !isDir(d.node) {
		return nil, syscall.ENOTDIR
	}
	return d, nil
}

// resolveParent walks all but the last element of p and returns the
// directory and the last element, for calls that create or remove a name.
// name is "" when p names the root ("/", "//"), and may be "." or "..",
// which callers reject with the errno Linux uses for that call.
// trailingSlash reports whether p ended in "/".
func (r *resolver) resolveParent(base *Dentry, p string) (dir *Dentry, name string, trailingSlash bool, err error) {
	if err := checkPath(p); err != nil {
		return nil, "", false, err
	}
	trimmed := strings.TrimRight(p, "/")
	trailingSlash = len(trimmed) < len(p)
	if trimmed == "" { // "/" or "///"
		return r.v.root, "", trailingSlash, nil
	}
	i := strings.LastIndexByte(trimmed, '/')
	name = trimmed[i+1:]
	if len(name) > nameMax {
		return nil, "", false, syscall.ENAMETOOLONG
	}
	dir = base
	switch {
	case i == 0:
		dir = r.v.root
	case i > 0:
		if dir, err = r.resolve(base, trimmed[:i], true); err != nil {
			return nil, "", false, err
		}
	}
	if !isDir(dir.node) {
		return nil, "", false, syscall.ENOTDIR
	}
	return dir, name, trailingSlash, nil
}

// writable returns the directory's WritableDir, or EROFS if the mount or
// the file system is read-only.
func writable(dir *Dentry) (WritableDir, error) {
	if dir.mnt.readOnly {
		return nil, syscall.EROFS
	}
	wd, ok := dir.node.(WritableDir)
	if !ok {
		return nil, syscall.EROFS
	}
	return wd, nil
}

// isUnder reports whether d is anc or inside it, by the path that reached d.
func isUnder(d, anc *Dentry) bool {
	ancAttr, err := anc.node.Attr()
	if err != nil {
		return false
	}
	for ; d != nil; d = d.parent {
		if d.mnt != anc.mnt {
			return false
		}
		if a, err := d.node.Attr(); err == nil && a.Ino == ancAttr.Ino {
			return true
		}
		if d.isMountRoot() {
			return false
		}
	}
	return false
}
