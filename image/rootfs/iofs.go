package rootfs

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// The Image implements these io/fs interfaces, so host tools and tests can
// treat an image like any other file system (fs.WalkDir, fstest.TestFS).
var (
	_ fs.FS         = (*Image)(nil)
	_ fs.ReadDirFS  = (*Image)(nil)
	_ fs.StatFS     = (*Image)(nil)
	_ fs.ReadFileFS = (*Image)(nil)
	_ fs.ReadLinkFS = (*Image)(nil)
)

// errTooManyLinks is reported when resolving a path follows more than 40
// symbolic links, as Linux reports ELOOP.
var errTooManyLinks = errors.New("too many levels of symbolic links")

// Resolve looks up an io/fs style path (no leading slash, "." for the
// root). Symlinks in the middle of the path are always followed, the last
// element only if follow is true. Link targets are interpreted inside the
// image: an absolute target starts at the image root and ".." never climbs
// above it, as if the image were the root of the machine, which it is.
func (im *Image) Resolve(name string, follow bool) (Node, error) {
	if !fs.ValidPath(name) {
		return Node{}, fs.ErrInvalid
	}
	links := 0
	stack := []Node{im.Root()} // the directories from the root to the current one
	return im.walk(stack, name, follow, &links)
}

func (im *Image) walk(stack []Node, p string, follow bool, links *int) (Node, error) {
	if strings.HasPrefix(p, "/") {
		stack = stack[:1]
	}
	elems := strings.Split(p, "/")
	for i, el := range elems {
		last := i == len(elems)-1
		switch el {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		dir := stack[len(stack)-1]
		if !dir.IsDir() {
			return Node{}, fs.ErrNotExist // a file in the middle of a path (ENOTDIR)
		}
		child, ok := dir.Lookup(el)
		if !ok {
			return Node{}, fs.ErrNotExist
		}
		if child.IsSymlink() && (!last || follow) {
			*links++
			if *links > maxLinks {
				return Node{}, errTooManyLinks
			}
			if last {
				// Resolve the target relative to the directory holding
				// the link; copy the stack so the recursion cannot
				// clobber ours.
				return im.walk(append([]Node(nil), stack...), child.Target(), true, links)
			}
			// Continue from the target; later ".." elements need its
			// ancestors, so resolve it as a directory stack.
			var err error
			if stack, err = im.stackOf(stack, child.Target(), links); err != nil {
				return Node{}, err
			}
			continue
		}
		if last {
			return child, nil
		}
		if !child.IsDir() {
			return Node{}, fs.ErrNotExist
		}
		stack = append(stack, child)
	}
	return stack[len(stack)-1], nil
}

// stackOf resolves p (a directory) from stack and returns the directory
// stack that ends at it.
func (im *Image) stackOf(stack []Node, p string, links *int) ([]Node, error) {
	stack = append([]Node(nil), stack...)
	if strings.HasPrefix(p, "/") {
		stack = stack[:1]
	}
	for _, el := range strings.Split(p, "/") {
		switch el {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		dir := stack[len(stack)-1]
		child, ok := dir.Lookup(el)
		if !ok {
			return nil, fs.ErrNotExist
		}
		if child.IsSymlink() {
			*links++
			if *links > maxLinks {
				return nil, errTooManyLinks
			}
			var err error
			if stack, err = im.stackOf(stack, child.Target(), links); err != nil {
				return nil, err
			}
			continue
		}
		if !child.IsDir() {
			return nil, fs.ErrNotExist
		}
		stack = append(stack, child)
	}
	return stack, nil
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// Open implements fs.FS. Symlinks are followed.
func (im *Image) Open(name string) (fs.File, error) {
	n, err := im.Resolve(name, true)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if n.IsDir() {
		return &dirFile{node: n, name: name}, nil
	}
	return &regFile{node: n, name: name}, nil
}

// Stat implements fs.StatFS. Symlinks are followed.
func (im *Image) Stat(name string) (fs.FileInfo, error) {
	n, err := im.Resolve(name, true)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return fileInfo{n, path.Base(name)}, nil
}

// Lstat implements fs.ReadLinkFS: like Stat but the last element is not followed.
func (im *Image) Lstat(name string) (fs.FileInfo, error) {
	n, err := im.Resolve(name, false)
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return fileInfo{n, path.Base(name)}, nil
}

// ReadLink implements fs.ReadLinkFS.
func (im *Image) ReadLink(name string) (string, error) {
	n, err := im.Resolve(name, false)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	if !n.IsSymlink() {
		return "", pathErr("readlink", name, fs.ErrInvalid)
	}
	return n.Target(), nil
}

// ReadDir implements fs.ReadDirFS; entries come sorted by name.
func (im *Image) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := im.Resolve(name, true)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	if !n.IsDir() {
		return nil, pathErr("readdir", name, errors.New("not a directory"))
	}
	out := make([]fs.DirEntry, n.NumChildren())
	for i := range out {
		c := n.Child(i)
		out[i] = fs.FileInfoToDirEntry(fileInfo{c, c.Name()})
	}
	return out, nil
}

// ReadFile implements fs.ReadFileFS. It returns a copy, as the interface
// requires; kernel code that wants no copy uses Node.Data.
func (im *Image) ReadFile(name string) ([]byte, error) {
	n, err := im.Resolve(name, true)
	if err != nil {
		return nil, pathErr("readfile", name, err)
	}
	if n.IsDir() {
		return nil, pathErr("readfile", name, errors.New("is a directory"))
	}
	return append([]byte{}, n.Data()...), nil
}

type fileInfo struct {
	n    Node
	name string
}

func (fi fileInfo) Name() string {
	if fi.name == "." || fi.name == "" {
		return "."
	}
	return fi.name
}
func (fi fileInfo) Size() int64        { return fi.n.Size() }
func (fi fileInfo) Mode() fs.FileMode  { return fi.n.Mode() }
func (fi fileInfo) ModTime() time.Time { return fi.n.ModTime() }
func (fi fileInfo) IsDir() bool        { return fi.n.IsDir() }
func (fi fileInfo) Sys() any           { return fi.n }

// regFile is an open regular file for io/fs callers.
type regFile struct {
	node Node
	name string
	off  int64
}

func (f *regFile) Stat() (fs.FileInfo, error) { return fileInfo{f.node, path.Base(f.name)}, nil }
func (f *regFile) Close() error               { return nil }

func (f *regFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *regFile) ReadAt(p []byte, off int64) (int, error) {
	d := f.node.Data()
	if off < 0 {
		return 0, pathErr("read", f.name, fs.ErrInvalid)
	}
	if off >= int64(len(d)) {
		return 0, io.EOF
	}
	n := copy(p, d[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *regFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += f.off
	case io.SeekEnd:
		off += f.node.Size()
	}
	if off < 0 {
		return 0, pathErr("seek", f.name, fs.ErrInvalid)
	}
	f.off = off
	return off, nil
}

// dirFile is an open directory for io/fs callers.
type dirFile struct {
	node Node
	name string
	pos  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return fileInfo{d.node, path.Base(d.name)}, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, pathErr("read", d.name, errors.New("is a directory"))
}

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.node.NumChildren() - d.pos
	if n > 0 && rest == 0 {
		return nil, io.EOF
	}
	if n <= 0 || n > rest {
		n = rest
	}
	out := make([]fs.DirEntry, n)
	for i := range out {
		c := d.node.Child(d.pos + i)
		out[i] = fs.FileInfoToDirEntry(fileInfo{c, c.Name()})
	}
	d.pos += n
	return out, nil
}
