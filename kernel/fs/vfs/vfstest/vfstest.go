// Package vfstest holds test helpers shared by the file systems that plug
// into the VFS: a random sequence of operations applied both through a VFS
// and to a host directory, compared errno by errno, and a tree printer.
//
// Execution context: host tests only.
package vfstest

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// CompareWithLinux applies steps random operations (mkdir, create, unlink,
// rmdir, rename, renameat2 RENAME_NOREPLACE, symlink, link, O_EXCL open)
// to guestRoot in v and to the host directory hostRef, and fails at the
// first call whose errno differs. The name space is tiny so that
// collisions, non-empty directories and type mismatches are frequent.
// Compare the trees afterwards with Tree.
func CompareWithLinux(t *testing.T, v *vfs.VFS, guestRoot, hostRef string, steps int, seed int64) {
	t.Helper()
	names := []string{"a", "b", "a/b", "b/a", "a/b/c", "ln"}
	rng := rand.New(rand.NewSource(seed))
	errnoOf := func(err error) syscall.Errno {
		if err == nil {
			return 0
		}
		if e, ok := err.(syscall.Errno); ok {
			return e
		}
		if pe, ok := err.(*os.PathError); ok {
			return pe.Err.(syscall.Errno)
		}
		t.Fatalf("not an errno: %v", err)
		return 0
	}
	for i := range steps {
		p, q := names[rng.Intn(len(names))], names[rng.Intn(len(names))]
		g, h := guestRoot+"/"+p, filepath.Join(hostRef, p)
		g2, h2 := guestRoot+"/"+q, filepath.Join(hostRef, q)
		var op string
		var got, want error
		switch rng.Intn(9) {
		case 0:
			op = "mkdir " + p
			got, want = v.MkdirAt(nil, g, 0o755), syscall.Mkdir(h, 0o755)
		case 1:
			op = "create " + p
			d, err := v.OpenAt(nil, g, syscall.O_CREAT|syscall.O_WRONLY, 0o644)
			if err == nil {
				d.Write([]byte(p))
				d.Close()
			}
			fd, err2 := syscall.Open(h, syscall.O_CREAT|syscall.O_WRONLY, 0o644)
			if err2 == nil {
				syscall.Write(fd, []byte(p))
				syscall.Close(fd)
			}
			got, want = err, err2
		case 2:
			op = "unlink " + p
			got, want = v.UnlinkAt(nil, g, 0), syscall.Unlink(h)
		case 3:
			op = "rmdir " + p
			got, want = v.UnlinkAt(nil, g, 0x200), syscall.Rmdir(h)
		case 4:
			op = "rename " + p + " " + q
			got, want = v.RenameAt2(nil, g, nil, g2, 0), syscall.Rename(h, h2)
		case 5:
			op = "symlink " + q + " " + p
			got, want = v.SymlinkAt(q, nil, g), syscall.Symlink(q, h)
		case 6:
			op = "link " + p + " " + q
			got, want = v.LinkAt(nil, g, nil, g2, 0), syscall.Link(h, h2)
		case 7:
			op = "open O_EXCL " + p
			d, err := v.OpenAt(nil, g, syscall.O_CREAT|syscall.O_EXCL|syscall.O_RDWR, 0o600)
			if err == nil {
				d.Close()
			}
			fd, err2 := syscall.Open(h, syscall.O_CREAT|syscall.O_EXCL|syscall.O_RDWR, 0o600)
			if err2 == nil {
				syscall.Close(fd)
			}
			got, want = err, err2
		case 8:
			op = "rename NOREPLACE " + p + " " + q
			got = v.RenameAt2(nil, g, nil, g2, vfs.RENAME_NOREPLACE)
			want = renameNoReplace(h, h2)
		}
		if errnoOf(got) != errnoOf(want) {
			t.Fatalf("step %d, %s: VFS gives %v, Linux %v", i, op, got, want)
		}
	}
}

func renameNoReplace(old, new string) error {
	const sysRenameat2 = 316 // amd64
	o, _ := syscall.BytePtrFromString(old)
	n, _ := syscall.BytePtrFromString(new)
	_, _, e := syscall.Syscall6(sysRenameat2, uintptr(^uint(99)), uintptr(unsafe.Pointer(o)),
		uintptr(^uint(99)), uintptr(unsafe.Pointer(n)), 1, 0) // AT_FDCWD = -100
	if e != 0 {
		return e
	}
	return nil
}

// Tree describes a directory: each path with its type and, for files and
// links, content or target.
func Tree(t *testing.T, root string) string {
	var lines []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			lines = append(lines, fmt.Sprintf("%s -> %s", rel, target))
		case fi.IsDir():
			lines = append(lines, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			lines = append(lines, fmt.Sprintf("%s %q", rel, b))
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
