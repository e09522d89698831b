package tmpfs

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// Rename implements vfs.WritableDir with renameat2 semantics.
func (d dirNode) Rename(oldName string, newDir vfs.DirNode, newName string, flags uint) error {
	nd, ok := newDir.(dirNode)
	if !ok || nd.fs != d.fs {
		return syscall.EXDEV
	}
	fs := d.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	src, ok := d.children[oldName]
	if !ok {
		return syscall.ENOENT
	}
	dst, exists := nd.children[newName]
	switch {
	case exists && flags&vfs.RENAME_NOREPLACE != 0:
		return syscall.EEXIST
	case !exists && flags&vfs.RENAME_EXCHANGE != 0:
		return syscall.ENOENT
	case exists && src == dst:
		return nil // two names of one file: POSIX says do nothing
	}
	// Moving a directory below itself would detach a cycle; the VFS
	// checks this by path too, but the inode parents are authoritative.
	if src.isDir() && nd.inode != d.inode {
		for p := nd.inode; ; p = p.parent {
			if p == src {
				return syscall.EINVAL
			}
			if p == fs.root {
				break
			}
		}
	}
	now := fs.now()
	if flags&vfs.RENAME_EXCHANGE != 0 {
		if dst.isDir() && d.inode != nd.inode {
			for p := d.inode; p != fs.root; p = p.parent {
				if p == dst {
					return syscall.EINVAL
				}
			}
		}
		d.children[oldName], nd.children[newName] = dst, src
		d.reparent(dst, nd)
		nd.reparent(src, d)
		src.ctime, dst.ctime = now, now
		d.mtime, d.ctime, nd.mtime, nd.ctime = now, now, now, now
		return nil
	}
	if exists {
		switch {
		case src.isDir() && !dst.isDir():
			return syscall.ENOTDIR
		case !src.isDir() && dst.isDir():
			return syscall.EISDIR
		case dst.isDir() && len(dst.children) > 0:
			return syscall.ENOTEMPTY
		}
		nd.remove(newName, dst)
	}
	delete(d.children, oldName)
	nd.children[newName] = src
	nd.reparent(src, d)
	src.ctime = now
	d.mtime, d.ctime, nd.mtime, nd.ctime = now, now, now, now
	return nil
}

// reparent records that directory child moved from old into d, fixing the
// ".." link counts; non-directories need nothing.
func (d dirNode) reparent(child *inode, old dirNode) {
	if !child.isDir() || old.inode == d.inode {
		return
	}
	old.nlink--
	d.nlink++
	child.parent = d.inode
}

// fileNode is a tmpfs regular file.
type fileNode struct{ *inode }

var _ vfs.FileNode = fileNode{}

// Open implements vfs.FileNode. The handle is the inode itself: tmpfs
// keeps no per-open state.
func (f fileNode) Open(flags int) (vfs.Handle, error) { return handle{f.inode}, nil }

// handle does I/O on a tmpfs file.
type handle struct{ *inode }

var (
	_ vfs.Appender = handle{}
	_ vfs.Handle   = handle{}
)

func (h handle) Close() error { return nil }

var _ vfs.HoleSeeker = handle{}

// SeekHole implements SEEK_DATA and SEEK_HOLE at page granularity: an
// allocated page is data, a missing one a hole, as in Linux's tmpfs.
func (h handle) SeekHole(off int64, data bool) (int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if off >= h.size {
		return 0, syscall.ENXIO
	}
	for pos := off; pos < h.size; pos = (pos/pageSize + 1) * pageSize {
		if (h.pages[pos/pageSize] != nil) == data {
			return pos, nil
		}
	}
	if data {
		return 0, syscall.ENXIO // only holes up to the end
	}
	return h.size, nil
}

func (h handle) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if off >= h.size {
		return 0, nil
	}
	p = p[:min(int64(len(p)), h.size-off)]
	for done := 0; done < len(p); {
		pos := off + int64(done)
		pg, in := pos/pageSize, pos%pageSize
		var n int
		if page := h.pages[pg]; page != nil {
			n = copy(p[done:], page[in:])
		} else {
			n = len(clear0(p[done:min(len(p), done+int(pageSize-in))]))
		}
		done += n
	}
	return len(p), nil
}

// clear0 zeroes b and returns it (a hole reads as zeros).
func clear0(b []byte) []byte {
	clear(b)
	return b
}

func (h handle) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return h.writeLocked(p, off)
}

// Append writes at the end of file under the lock, so concurrent O_APPEND
// writers never overwrite each other.
func (h handle) Append(p []byte) (int, int64, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	n, err := h.writeLocked(p, h.size)
	return n, h.size, err
}

func (h handle) writeLocked(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	fs := h.fs
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		pg, in := pos/pageSize, pos%pageSize
		page := h.pages[pg]
		if page == nil {
			if fs.opts.MaxBytes > 0 && (fs.pages+1)*pageSize > fs.opts.MaxBytes {
				break
			}
			page = new([pageSize]byte)
			h.pages[pg] = page
			if h.nlink > 0 {
				fs.pages++
			}
		}
		done += copy(page[in:], p[done:])
	}
	if end := off + int64(done); end > h.size {
		h.size = end
	}
	if done > 0 {
		h.mtime = fs.now()
		h.ctime = h.mtime
	}
	if done < len(p) {
		if done == 0 {
			return 0, syscall.ENOSPC
		}
		return done, nil // a short write; the next one reports ENOSPC
	}
	return done, nil
}

// truncate sets the size, freeing whole pages past the end and zeroing
// the tail of the last page so a later extension reads zeros. fs.mu held.
func (in *inode) truncate(size int64) {
	if size < in.size {
		last := (size + pageSize - 1) / pageSize // first page entirely past the end
		for pg := range in.pages {
			if pg >= last {
				delete(in.pages, pg)
				if in.nlink > 0 {
					in.fs.pages--
				}
			}
		}
		if tail := size % pageSize; tail != 0 {
			if page := in.pages[size/pageSize]; page != nil {
				clear(page[tail:])
			}
		}
	}
	in.size = size
	in.ctime = in.fs.now()
}
