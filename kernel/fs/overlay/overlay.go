// Package overlay puts generated files over paths of a read-only file
// system: the kernel's way to let /etc/resolv.conf in the packed root
// image follow the network configuration (static, or learned by DHCP)
// without making the root writable.
//
// Files are registered by absolute path at any time (the network comes up
// after the namespace is mounted); a lookup consults the registry, so a
// registration takes effect at once. A generated file whose content
// function reports !ok is invisible, and the file underneath (if any)
// shows through.
//
// Execution context: service context. Tested on the host.
package overlay

import (
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// Content returns a generated file's bytes, or ok == false to hide it.
type Content func() (data []byte, ok bool)

// FS is a file system with generated files over a base.
type FS struct {
	base  vfs.Filesystem
	mu    sync.Mutex
	files map[string]Content // by clean absolute path
	inos  map[string]uint64
	seen  map[string]*version
}

// version is the content a generated file was last seen with, and when
// that content first appeared: its mtime. Go's resolver re-reads
// /etc/resolv.conf only when the mtime changes.
type version struct {
	data  string
	mtime syscall.Timespec
}

// New wraps base.
func New(base vfs.Filesystem) *FS {
	return &FS{base: base, files: map[string]Content{}, inos: map[string]uint64{}, seen: map[string]*version{}}
}

// Set places a generated file at path (absolute, in a directory that
// exists in the base). Setting it again replaces the content function.
func (f *FS) Set(p string, c Content) {
	p = path.Clean("/" + p)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[p] = c
	if _, ok := f.inos[p]; !ok {
		// Inode numbers far above any the base hands out.
		f.inos[p] = 1<<48 + uint64(len(f.inos))
	}
}

// generated returns the file at p if one is registered and visible.
func (f *FS) generated(p string) (*genFile, bool) {
	f.mu.Lock()
	c, ok := f.files[p]
	ino := f.inos[p]
	f.mu.Unlock()
	if !ok {
		return nil, false
	}
	if _, visible := c(); !visible {
		return nil, false
	}
	return &genFile{fs: f, path: p, content: c, ino: ino}, true
}

// read returns the file's content now and its mtime.
func (g *genFile) read() ([]byte, syscall.Timespec) {
	data, _ := g.content()
	g.fs.mu.Lock()
	defer g.fs.mu.Unlock()
	v := g.fs.seen[g.path]
	if v == nil || v.data != string(data) {
		v = &version{data: string(data), mtime: syscall.NsecToTimespec(time.Now().UnixNano())}
		g.fs.seen[g.path] = v
	}
	return data, v.mtime
}

// Root implements vfs.Filesystem.
func (f *FS) Root() vfs.DirNode { return &dir{DirNode: f.base.Root(), fs: f, path: "/"} }

// Statfs implements vfs.Filesystem with the base's numbers.
func (f *FS) Statfs(st *syscall.Statfs_t) error { return f.base.Statfs(st) }

// dir is a base directory that may hold generated files.
type dir struct {
	vfs.DirNode
	fs   *FS
	path string
}

func (d *dir) child(name string) string { return path.Join(d.path, name) }

// Lookup implements vfs.DirNode: a generated file wins over the base.
func (d *dir) Lookup(name string) (vfs.Node, error) {
	if g, ok := d.fs.generated(d.child(name)); ok {
		return g, nil
	}
	n, err := d.DirNode.Lookup(name)
	if err != nil {
		return nil, err
	}
	if sub, ok := n.(vfs.DirNode); ok {
		return &dir{DirNode: sub, fs: d.fs, path: d.child(name)}, nil
	}
	return n, nil
}

// ReadDir implements vfs.DirNode: the base's entries, with generated
// files added or in place of the base's.
func (d *dir) ReadDir() ([]vfs.DirEntry, error) {
	ents, err := d.DirNode.ReadDir()
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(d.path, "/") + "/"
	d.fs.mu.Lock()
	var names []string
	for p := range d.fs.files {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
	}
	d.fs.mu.Unlock()
	for _, name := range names {
		g, ok := d.fs.generated(d.child(name))
		if !ok {
			continue
		}
		out := ents[:0]
		for _, e := range ents {
			if e.Name != name {
				out = append(out, e)
			}
		}
		ents = append(out, vfs.DirEntry{Name: name, Ino: g.ino, Type: vfs.DT_REG})
	}
	return ents, nil
}

// genFile is a generated, read-only regular file.
type genFile struct {
	fs      *FS
	path    string
	content Content
	ino     uint64
}

func (g *genFile) Attr() (vfs.Attr, error) {
	data, mtime := g.read()
	return vfs.Attr{Ino: g.ino, Mode: syscall.S_IFREG | 0o644, Nlink: 1, Size: int64(len(data)),
		Blocks: (int64(len(data)) + 511) / 512, Blksize: 4096, Mtime: mtime, Ctime: mtime, Atime: mtime}, nil
}

// Open implements vfs.FileNode: the handle reads a snapshot of the
// content taken at open, so one read sequence sees one version.
func (g *genFile) Open(flags int) (vfs.Handle, error) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, syscall.EROFS
	}
	data, _ := g.read()
	return vfs.Snapshot(data), nil
}
