package rootfs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SymlinkPolicy says what the Builder does with a host symlink whose target
// leaves the tree being packed (an absolute target outside it, or a
// relative one that climbs out of it with "..").
type SymlinkPolicy int

const (
	// RejectExternal makes AddDir fail with an error naming the link.
	// It is the default: silently packing a link the guest cannot follow,
	// or silently copying a large host tree, would both surprise.
	RejectExternal SymlinkPolicy = iota
	// FollowExternal replaces the link with a copy of the regular file it
	// points to on the host (a link to a directory is still an error).
	FollowExternal
	// SkipExternal leaves such links out of the image.
	SkipExternal
)

// Builder collects a tree of directories, files and symlinks and writes it
// as an image. The zero value is ready to use and holds an empty root.
//
// Later additions replace earlier files and symlinks at the same guest
// path (so a second -files tree can override the first), directories
// merge, and replacing a directory by a non-directory or the reverse is an
// error.
type Builder struct {
	// ExternalSymlinks is the policy for symlinks that leave a tree added
	// with AddDir.
	ExternalSymlinks SymlinkPolicy
	// ModTime, if not zero, is recorded as the modification time of every
	// entry, for reproducible images; otherwise host times are kept.
	ModTime time.Time

	root *bnode
}

// bnode is one entry of the tree being built.
type bnode struct {
	mode     uint32 // Linux st_mode
	mtime    time.Time
	children map[string]*bnode // directories
	data     []byte            // regular files given in memory
	hostPath string            // regular files copied from the host at write time
	size     int64
	hostID   [2]uint64 // device and inode of hostPath, to store hard links once
	target   string    // symlinks
}

func (b *Builder) rootNode() *bnode {
	if b.root == nil {
		b.root = &bnode{mode: sIFDIR | 0o755, children: map[string]*bnode{}}
	}
	return b.root
}

// cleanGuest turns a guest path into its elements, rejecting paths that
// are not absolute-or-relative-to-root clean names.
func cleanGuest(p string) ([]string, error) {
	c := path.Clean("/" + p)
	if c == "/" {
		return nil, nil
	}
	elems := strings.Split(c[1:], "/")
	for _, e := range elems {
		if len(e) > MaxNameLen || strings.IndexByte(e, 0) >= 0 {
			return nil, fmt.Errorf("rootfs: invalid guest path %q", p)
		}
	}
	return elems, nil
}

// dir returns the directory at elems, creating missing ones with perm.
func (b *Builder) dir(elems []string, perm uint32, mtime time.Time) (*bnode, error) {
	d := b.rootNode()
	for i, e := range elems {
		c, ok := d.children[e]
		if !ok {
			c = &bnode{mode: sIFDIR | perm, mtime: mtime, children: map[string]*bnode{}}
			d.children[e] = c
		} else if c.children == nil {
			return nil, fmt.Errorf("rootfs: /%s is not a directory", strings.Join(elems[:i+1], "/"))
		}
		d = c
	}
	return d, nil
}

// put stores n at guest path p, replacing a previous non-directory.
func (b *Builder) put(p string, n *bnode) error {
	elems, err := cleanGuest(p)
	if err != nil {
		return err
	}
	if len(elems) == 0 {
		return fmt.Errorf("rootfs: cannot replace the root directory with a file")
	}
	parent, err := b.dir(elems[:len(elems)-1], 0o755, n.mtime)
	if err != nil {
		return err
	}
	name := elems[len(elems)-1]
	if old, ok := parent.children[name]; ok && old.children != nil {
		return fmt.Errorf("rootfs: %s is a directory, cannot replace it with a file or symlink", path.Clean("/"+p))
	}
	parent.children[name] = n
	return nil
}

func (b *Builder) time(t time.Time) time.Time {
	if !b.ModTime.IsZero() {
		return b.ModTime
	}
	return t
}

// Mkdir creates directory p and any missing parents (like mkdir -p).
// An existing directory keeps its mode.
func (b *Builder) Mkdir(p string, perm fs.FileMode) error {
	elems, err := cleanGuest(p)
	if err != nil {
		return err
	}
	_, err = b.dir(elems, fileModeToLinux(perm), b.time(time.Time{}))
	return err
}

// AddFile adds a regular file with the given contents (not copied; do not
// modify data afterwards) and permissions.
func (b *Builder) AddFile(p string, data []byte, perm fs.FileMode) error {
	return b.put(p, &bnode{mode: sIFREG | fileModeToLinux(perm), data: data, size: int64(len(data)), mtime: b.time(time.Time{})})
}

// AddHostFile adds the host's regular file hostPath at guest path p. The
// contents are read when the image is written.
func (b *Builder) AddHostFile(hostPath, p string) error {
	fi, err := os.Stat(hostPath)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("rootfs: %s is not a regular file", hostPath)
	}
	return b.put(p, b.hostFileNode(hostPath, fi))
}

func (b *Builder) hostFileNode(hostPath string, fi fs.FileInfo) *bnode {
	n := &bnode{mode: sIFREG | fileModeToLinux(fi.Mode()), hostPath: hostPath, size: fi.Size(), mtime: b.time(fi.ModTime())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		n.hostID = [2]uint64{uint64(st.Dev), uint64(st.Ino)}
	}
	return n
}

// AddSymlink adds a symbolic link at p pointing to target, which is
// interpreted in the guest (an absolute target starts at the guest root).
func (b *Builder) AddSymlink(p, target string) error {
	if target == "" || len(target) > MaxTargetLen || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("rootfs: invalid symlink target %q for %s", target, p)
	}
	return b.put(p, &bnode{mode: sIFLNK | 0o777, target: target, mtime: b.time(time.Time{})})
}

// AddSpec adds a tree given as the CLI writes it: "HOSTDIR" (packed at the
// guest root) or "HOSTDIR:GUESTDIR".
func (b *Builder) AddSpec(spec string) error {
	host, guest := spec, "/"
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		host, guest = spec[:i], spec[i+1:]
	}
	if host == "" {
		return fmt.Errorf("rootfs: empty host directory in %q", spec)
	}
	return b.AddDir(host, guest)
}

// AddDir packs the host directory tree hostDir at guestDir. Modes and
// modification times are kept; owners are not (everything belongs to
// root in the guest). Symlinks that stay inside hostDir are kept; an
// absolute one is rewritten to the equivalent guest path. Symlinks that
// leave hostDir are handled by b.ExternalSymlinks. Other file types
// (sockets, devices, FIFOs) are an error.
func (b *Builder) AddDir(hostDir, guestDir string) error {
	root, err := filepath.Abs(hostDir)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("rootfs: %s is not a directory", hostDir)
	}
	// The tree may be reached through a symlink of its own (/home ->
	// /data/home); absolute link targets may use either spelling.
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	return filepath.WalkDir(root, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		rel, err := filepath.Rel(root, hp)
		if err != nil {
			return err
		}
		gp := path.Join("/", guestDir, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			elems, err := cleanGuest(gp)
			if err != nil {
				return err
			}
			dn, err := b.dir(elems, fileModeToLinux(mode), b.time(info.ModTime()))
			if err != nil {
				return err
			}
			dn.mode = sIFDIR | fileModeToLinux(mode)
			dn.mtime = b.time(info.ModTime())
			return nil
		case mode.IsRegular():
			return b.put(gp, b.hostFileNode(hp, info))
		case mode&fs.ModeSymlink != 0:
			return b.addHostSymlink(hp, gp, root, realRoot, guestDir, info)
		default:
			return fmt.Errorf("rootfs: %s: cannot pack file type %v (only directories, regular files and symlinks)", hp, mode.Type())
		}
	})
}

// within reports whether p is root or below it, lexically.
func within(root, p string) (string, bool) {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

func (b *Builder) addHostSymlink(hp, gp, root, realRoot, guestDir string, info fs.FileInfo) error {
	target, err := os.Readlink(hp)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	mtime := b.time(info.ModTime())
	if filepath.IsAbs(target) {
		// An absolute target names a host path; if it is inside the
		// tree, point the guest link at the same file's guest path.
		for _, r := range []string{root, realRoot} {
			if rel, ok := within(r, filepath.Clean(target)); ok {
				gt := path.Join("/", guestDir, filepath.ToSlash(rel))
				return b.put(gp, &bnode{mode: sIFLNK | 0o777, target: gt, mtime: mtime})
			}
		}
	} else if _, ok := within(root, filepath.Join(filepath.Dir(hp), target)); ok {
		// A relative target that stays in the tree means the same thing
		// in the guest: keep it verbatim.
		return b.put(gp, &bnode{mode: sIFLNK | 0o777, target: target, mtime: mtime})
	}
	switch b.ExternalSymlinks {
	case SkipExternal:
		return nil
	case FollowExternal:
		fi, err := os.Stat(hp)
		if err != nil {
			return fmt.Errorf("rootfs: symlink %s -> %s leaves %s and cannot be followed: %w", hp, target, root, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("rootfs: symlink %s -> %s leaves %s and points to a %v, not a regular file; pack that directory explicitly", hp, target, root, fi.Mode().Type())
		}
		return b.put(gp, b.hostFileNode(hp, fi))
	default:
		return fmt.Errorf("rootfs: symlink %s -> %s points outside the packed tree %s; pack its target too, replace the link, or build with external symlinks followed", hp, target, root)
	}
}
