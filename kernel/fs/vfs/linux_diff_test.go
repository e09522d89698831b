package vfs_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// The differential test runs one script of file system calls twice: on
// the VFS over a tmpfs, and on the host kernel inside t.TempDir(). Every
// call must fail with the same errno (or succeed on both). The host is
// the reference for "what Linux does", so the expectations are not
// hand-written guesses.

// backend is one side of the comparison. Paths are relative to the
// sandbox root.
type backend interface {
	open(path string, flags int, mode uint32) error
	mkdir(path string, mode uint32) error
	unlinkat(path string, flags int) error
	rename2(oldPath, newPath string, flags uint) error
	link(oldPath, newPath string, flags int) error
	symlink(target, path string) error
	readlink(path string) (string, error)
	truncate(path string, size int64) error
	stat(path string, flags int) (syscall.Stat_t, error)
}

type vfsBackend struct{ v *vfs.VFS }

func (b vfsBackend) open(p string, flags int, mode uint32) error {
	d, err := b.v.OpenAt(nil, p, flags, mode)
	if err == nil {
		d.Close()
	}
	return err
}
func (b vfsBackend) mkdir(p string, mode uint32) error  { return b.v.MkdirAt(nil, p, mode) }
func (b vfsBackend) unlinkat(p string, flags int) error { return b.v.UnlinkAt(nil, p, flags) }
func (b vfsBackend) rename2(o, n string, flags uint) error {
	return b.v.RenameAt2(nil, o, nil, n, flags)
}
func (b vfsBackend) link(o, n string, flags int) error   { return b.v.LinkAt(nil, o, nil, n, flags) }
func (b vfsBackend) symlink(t, p string) error           { return b.v.SymlinkAt(t, nil, p) }
func (b vfsBackend) readlink(p string) (string, error)   { return b.v.ReadlinkAt(nil, p) }
func (b vfsBackend) truncate(p string, size int64) error { return b.v.TruncateAt(nil, p, size) }
func (b vfsBackend) stat(p string, flags int) (st syscall.Stat_t, err error) {
	err = b.v.StatAt(nil, p, &st, flags)
	return st, err
}

// hostBackend issues the real system calls relative to a directory fd.
type hostBackend struct{ dirfd int }

func errnoOf(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func cstr(s string) uintptr {
	p, err := syscall.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	return uintptr(unsafe.Pointer(p))
}

func (h hostBackend) open(p string, flags int, mode uint32) error {
	fd, err := syscall.Openat(h.dirfd, p, flags|syscall.O_CLOEXEC, mode)
	if err == nil {
		syscall.Close(fd)
	}
	return err
}
func (h hostBackend) mkdir(p string, mode uint32) error { return syscall.Mkdirat(h.dirfd, p, mode) }
func (h hostBackend) unlinkat(p string, flags int) error {
	_, _, e := syscall.Syscall(syscall.SYS_UNLINKAT, uintptr(h.dirfd), cstr(p), uintptr(flags))
	return errnoOf(e)
}
func (h hostBackend) rename2(o, n string, flags uint) error {
	const sysRenameat2 = 316
	_, _, e := syscall.Syscall6(sysRenameat2, uintptr(h.dirfd), cstr(o), uintptr(h.dirfd), cstr(n), uintptr(flags), 0)
	return errnoOf(e)
}
func (h hostBackend) link(o, n string, flags int) error {
	_, _, e := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(h.dirfd), cstr(o), uintptr(h.dirfd), cstr(n), uintptr(flags), 0)
	return errnoOf(e)
}
func (h hostBackend) symlink(t, p string) error {
	_, _, e := syscall.Syscall(syscall.SYS_SYMLINKAT, cstr(t), uintptr(h.dirfd), cstr(p))
	return errnoOf(e)
}
func (h hostBackend) readlink(p string) (string, error) {
	buf := make([]byte, 4096)
	n, _, e := syscall.Syscall6(syscall.SYS_READLINKAT, uintptr(h.dirfd), cstr(p), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if e != 0 {
		return "", e
	}
	return string(buf[:n]), nil
}
func (h hostBackend) truncate(p string, size int64) error {
	return syscall.Truncate(fmt.Sprintf("/proc/self/fd/%d/%s", h.dirfd, p), size)
}
func (h hostBackend) stat(p string, flags int) (st syscall.Stat_t, err error) {
	_, _, e := syscall.Syscall6(syscall.SYS_NEWFSTATAT, uintptr(h.dirfd), cstr(p), uintptr(unsafe.Pointer(&st)), uintptr(flags), 0, 0)
	return st, errnoOf(e)
}

// step is one call of the script.
type step struct {
	name string
	do   func(b backend) error
}

func open(p string, flags int) step {
	return step{fmt.Sprintf("open(%q, %#x)", p, flags), func(b backend) error { return b.open(p, flags, 0o644) }}
}
func mkdir(p string) step {
	return step{fmt.Sprintf("mkdir(%q)", p), func(b backend) error { return b.mkdir(p, 0o755) }}
}
func unlink(p string) step {
	return step{fmt.Sprintf("unlink(%q)", p), func(b backend) error { return b.unlinkat(p, 0) }}
}
func rmdir(p string) step {
	return step{fmt.Sprintf("rmdir(%q)", p), func(b backend) error { return b.unlinkat(p, vfs.AT_REMOVEDIR) }}
}
func rename(o, n string, flags uint) step {
	return step{fmt.Sprintf("rename2(%q, %q, %d)", o, n, flags), func(b backend) error { return b.rename2(o, n, flags) }}
}
func link(o, n string, flags int) step {
	return step{fmt.Sprintf("link(%q, %q, %#x)", o, n, flags), func(b backend) error { return b.link(o, n, flags) }}
}
func symlink(t, p string) step {
	return step{fmt.Sprintf("symlink(%q, %q)", t, p), func(b backend) error { return b.symlink(t, p) }}
}
func readlink(p, want string) step {
	return step{fmt.Sprintf("readlink(%q)", p), func(b backend) error {
		got, err := b.readlink(p)
		if err == nil && got != want {
			return fmt.Errorf("readlink = %q, want %q", got, want)
		}
		return err
	}}
}
func truncate(p string, size int64) step {
	return step{fmt.Sprintf("truncate(%q, %d)", p, size), func(b backend) error { return b.truncate(p, size) }}
}

// statIs checks the file type and size (and that the call fails alike).
func statIs(p string, flags int, typ uint32, size int64) step {
	return step{fmt.Sprintf("stat(%q, %#x)", p, flags), func(b backend) error {
		st, err := b.stat(p, flags)
		if err != nil {
			return err
		}
		if st.Mode&syscall.S_IFMT != typ || (size >= 0 && st.Size != size) {
			return fmt.Errorf("mode %#o size %d", st.Mode, st.Size)
		}
		return nil
	}}
}

const (
	rdonly = syscall.O_RDONLY
	wronly = syscall.O_WRONLY
	rdwr   = syscall.O_RDWR
	creat  = syscall.O_CREAT
	excl   = syscall.O_EXCL
	nofoll = syscall.O_NOFOLLOW
	odir   = syscall.O_DIRECTORY
	trunc  = syscall.O_TRUNC
)

func script() []step {
	s := []step{
		// setup
		mkdir("a"), mkdir("a/sub"), open("a/f", creat|wronly), open("a/sub/g", creat|wronly),
		symlink("f", "a/l"), symlink("nope", "a/dangle"), symlink("loop2", "loop1"), symlink("loop1", "loop2"),
		symlink("sub", "a/dl"), symlink("../a", "a/sub/up"),

		// open
		open("a/f", rdonly), open("a/f", creat|excl|wronly), open("a/l", creat|excl|wronly),
		open("a/l", rdonly|nofoll), open("a/l", rdonly), open("a/dl", odir), open("a/dl", odir|nofoll),
		open("a/dangle", creat|wronly), statIs("a/nope", 0, syscall.S_IFREG, 0),
		open("a/f/", rdonly), open("a/f/x", rdonly), open("a/f/.", rdonly), open("a", wronly), open("a", rdwr),
		open("a", rdonly|creat), open("a/newfile/", creat|wronly), open("a/f", odir), open("loop1", rdonly),
		open("missing/x", creat|wronly), open("a/sub/up/sub/up/f", rdonly), open("a/dl/../f", rdonly),
		open(".", rdonly), open("..", rdonly), open("a/.", wronly), open("", rdonly),
		open(strings.Repeat("x", 256), creat|wronly), open("a/f", wronly|trunc),

		// mkdir
		mkdir("a"), mkdir("a/f/x"), mkdir("a/new"), mkdir("a/."), mkdir("a/l"), mkdir("a/dangle"),
		mkdir("a/new2/"), mkdir("x/y"), mkdir("a/dl/z"),

		// unlink, rmdir
		unlink("a"), unlink("a/f/"), unlink("a/missing"), unlink("a/."), unlink("a/dl/"),
		rmdir("a"), rmdir("a/f"), rmdir("a/."), rmdir("a/.."), rmdir("a/new"), rmdir("a/new"), rmdir("a/l"),
		rmdir("a/dl"), rmdir("."), unlink("a/dangle"), statIs("a/nope", 0, syscall.S_IFREG, 0),

		// rename
		rename("a/f", "a/sub", 0), rename("a/sub", "a/f", 0), rename("a", "a/sub/x", 0),
		rename("a/sub", "a", 0), rename("a/f", "a/nope", vfs.RENAME_NOREPLACE), rename("a/f", "a/f", 0),
		rename("a/x", "a/y", 0), rename("a/f", "a/sub/", 0), rename("a/f/", "a/y", 0),
		rename("a/nope", "a/renamed", 0), statIs("a/renamed", 0, syscall.S_IFREG, 0),
		rename("a/renamed", "a/f", vfs.RENAME_EXCHANGE), statIs("a/renamed", 0, syscall.S_IFREG, 0),
		rename("a/zzz", "a/f", vfs.RENAME_EXCHANGE), rename("a/f", "a/zzz", vfs.RENAME_EXCHANGE),
		rename("a/f", "a/g", vfs.RENAME_EXCHANGE|vfs.RENAME_NOREPLACE), rename("a/.", "b", 0),
		mkdir("a/empty"), mkdir("c"), rename("c", "a/empty", 0), statIs("a/empty", 0, syscall.S_IFDIR, -1),
		rename("a/sub/up", "a/up2", 0), readlink("a/up2", "../a"),

		// link, symlink, readlink
		link("a/sub", "a/x", 0), link("a/f", "a/l", 0), link("a/f", "a/hard", 0), statIs("a/hard", 0, syscall.S_IFREG, 0),
		link("a/l", "a/hl", 0), statIs("a/hl", vfs.AT_SYMLINK_NOFOLLOW, syscall.S_IFLNK, 1),
		link("a/l", "a/hl2", vfs.AT_SYMLINK_FOLLOW), statIs("a/hl2", vfs.AT_SYMLINK_NOFOLLOW, syscall.S_IFREG, 0),
		link("a/missing", "a/x", 0), link("a/f", "a/newdir/", 0),
		symlink("x", "a/f"), symlink("", "a/emptylink"), symlink("x", "a/ok"), readlink("a/ok", "x"),
		readlink("a/f", ""), readlink("a/missing", ""), readlink("a/dl/", ""),

		// truncate, stat
		truncate("a", 0), truncate("a/f", -1), truncate("a/l", 5), statIs("a/f", 0, syscall.S_IFREG, 5),
		statIs("a/l", vfs.AT_SYMLINK_NOFOLLOW, syscall.S_IFLNK, 1), statIs("a/l", 0, syscall.S_IFREG, 5),
		statIs("a/dangle", 0, 0, 0), statIs("a/f/", 0, 0, 0), statIs("a/dl/", vfs.AT_SYMLINK_NOFOLLOW, syscall.S_IFDIR, -1),
	}
	// A chain of 40 links resolves; one more is ELOOP.
	s = append(s, open("a/f", wronly|trunc), symlink("a/f", "c0"))
	for i := 1; i <= 41; i++ {
		s = append(s, symlink(fmt.Sprintf("c%d", i-1), fmt.Sprintf("c%d", i)))
	}
	s = append(s, open("c40", rdonly), open("c41", rdonly), statIs("c39", 0, syscall.S_IFREG, 0))
	return s
}

func TestAgainstLinux(t *testing.T) {
	hostDir := t.TempDir()
	fd, err := syscall.Open(hostDir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	host := hostBackend{fd}
	mine := vfsBackend{vfs.New(tmpfs.New(tmpfs.Options{}), vfs.Options{})}
	for i, s := range script() {
		want := s.do(host)
		got := s.do(mine)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("step %d %s: stardust %v, linux %v", i, s.name, got, want)
		}
	}
}
