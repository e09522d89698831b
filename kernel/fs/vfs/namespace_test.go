package vfs_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/image/rootfs"
	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/imagefs"
	"github.com/stardust-go/stardust/kernel/fs/synthfs"
	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// namespace builds what the kernel will build at boot: the packed image
// read-only at /, a tmpfs at /tmp, /dev, /proc and /sys.
func namespace(t *testing.T) *vfs.VFS {
	t.Helper()
	var img bytes.Buffer
	err := rootfs.Pack(&img,
		rootfs.Entry{Path: "/etc/hosts", Mode: 0o644, Data: []byte("127.0.0.1 localhost\n")},
		rootfs.Entry{Path: "/etc/ssl/certs/ca.crt", Mode: 0o444, Data: []byte("PEM")},
		rootfs.Entry{Path: "/app/bin/server", Mode: 0o755, Data: []byte("ELF")},
		rootfs.Entry{Path: "/app/current", Mode: fs.ModeSymlink, Target: "/app/bin"},
		rootfs.Entry{Path: "/app/etc", Mode: fs.ModeSymlink, Target: "../etc"},
		rootfs.Entry{Path: "/proc", Mode: fs.ModeDir | 0o555},
	)
	if err != nil {
		t.Fatal(err)
	}
	root, err := imagefs.New(img.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	v := vfs.New(root, vfs.Options{ReadOnly: true})
	facts := func() synthfs.Facts {
		return synthfs.Facts{Hostname: "box", Exe: "/app/bin/server", NumCPU: 2, MemTotal: 1 << 30, Cmdline: []string{"server", "-v"}}
	}
	for _, m := range []struct {
		path string
		fs   vfs.Filesystem
	}{
		{"/tmp", tmpfs.New(tmpfs.Options{})}, // /tmp is not in the image: a namespace-only mount point
		{"/dev", synthfs.NewDev(bytes.NewReader(bytes.Repeat([]byte{0xAB}, 1<<16)))},
		{"/proc", synthfs.NewProc(facts)}, // hides the image's empty /proc
		{"/sys", synthfs.NewSys(facts)},
	} {
		if err := v.Mount(m.path, m.fs, 0); err != nil {
			t.Fatalf("mount %s: %v", m.path, err)
		}
	}
	return v
}

func readAll(t *testing.T, v *vfs.VFS, path string) string {
	t.Helper()
	d, err := v.OpenAt(nil, path, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer d.Close()
	var out []byte
	buf := make([]byte, 7) // small, to exercise offsets
	for {
		n, err := d.Read(buf)
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func TestNamespace(t *testing.T) {
	v := namespace(t)
	if got := readAll(t, v, "/app/etc/hosts"); got != "127.0.0.1 localhost\n" {
		t.Errorf("/app/etc/hosts = %q", got)
	}
	if got := readAll(t, v, "/app/current/server"); got != "ELF" {
		t.Errorf("via absolute link: %q", got)
	}
	if err := open2(v, "/proc/self/exe/../hosts", syscall.O_RDONLY); err != syscall.ENOTDIR {
		t.Errorf("\"..\" after a file: %v, want ENOTDIR", err)
	}
	if got := readAll(t, v, "/proc/sys/kernel/hostname"); got != "box\n" {
		t.Errorf("hostname %q", got)
	}
	if got := readAll(t, v, "/proc/self/cmdline"); got != "server\x00-v\x00" {
		t.Errorf("cmdline %q", got)
	}
	if got := readAll(t, v, "/proc/sys/net/core/somaxconn"); got != "4096\n" {
		t.Errorf("somaxconn %q", got)
	}
	if got := readAll(t, v, "/proc/meminfo"); !strings.HasPrefix(got, "MemTotal:        1048576 kB\n") {
		t.Errorf("meminfo %q", got)
	}
	if got := readAll(t, v, "/proc/cpuinfo"); strings.Count(got, "processor\t:") != 2 {
		t.Errorf("cpuinfo %q", got)
	}
	if got := readAll(t, v, "/sys/devices/system/cpu/online"); got != "0-1\n" {
		t.Errorf("online %q", got)
	}
	if l, err := v.ReadlinkAt(nil, "/proc/self/exe"); err != nil || l != "/app/bin/server" {
		t.Errorf("readlink exe = %q %v", l, err)
	}
	for _, p := range []string{"/proc/self/cgroup", "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"} {
		if _, err := v.OpenAt(nil, p, syscall.O_RDONLY, 0); err != syscall.ENOENT {
			t.Errorf("%s: %v, want ENOENT", p, err)
		}
	}
	if _, err := v.OpenAt(nil, "/proc/meminfo", syscall.O_WRONLY, 0); err != syscall.EACCES {
		t.Errorf("write-open /proc/meminfo: %v", err)
	}

	// The image is read-only; existence errors still come first.
	for _, tc := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"open O_WRONLY", open2(v, "/etc/hosts", syscall.O_WRONLY), syscall.EROFS},
		{"open O_TRUNC", open2(v, "/etc/hosts", syscall.O_RDONLY|syscall.O_TRUNC), syscall.EROFS},
		{"create", open2(v, "/etc/new", syscall.O_CREAT|syscall.O_WRONLY), syscall.EROFS},
		{"create existing", open2(v, "/etc/hosts", syscall.O_CREAT|syscall.O_RDONLY), 0},
		{"mkdir existing", v.MkdirAt(nil, "/etc", 0o755), syscall.EEXIST},
		{"mkdir", v.MkdirAt(nil, "/etc/x", 0o755), syscall.EROFS},
		{"unlink missing", v.UnlinkAt(nil, "/etc/nope", 0), syscall.EROFS}, // Linux checks the mount first
		{"symlink existing", v.SymlinkAt("x", nil, "/etc/hosts"), syscall.EEXIST},
		{"unlink", v.UnlinkAt(nil, "/etc/hosts", 0), syscall.EROFS},
		{"chmod", v.ChmodAt(nil, "/etc/hosts", 0o600, 0), syscall.EROFS},
		{"truncate", v.TruncateAt(nil, "/etc/hosts", 0), syscall.EROFS},
		{"symlink", v.SymlinkAt("x", nil, "/etc/l"), syscall.EROFS},
		{"rename across mounts", v.RenameAt2(nil, "/etc/hosts", nil, "/tmp/hosts", 0), syscall.EXDEV},
		{"link across mounts", v.LinkAt(nil, "/etc/hosts", nil, "/tmp/hosts", 0), syscall.EXDEV},
		{"rmdir mount point on read-only /", v.UnlinkAt(nil, "/tmp", vfs.AT_REMOVEDIR), syscall.EROFS},
		{"rename mount point on read-only /", v.RenameAt2(nil, "/tmp", nil, "/tmp2", 0), syscall.EROFS},
		{"rename mount point", renameMountPoint(v), syscall.EBUSY},
		{"write /tmp", open2(v, "/tmp/f", syscall.O_CREAT|syscall.O_WRONLY), 0},
		{"access W_OK ro", v.AccessAt(nil, "/etc/hosts", vfs.W_OK, 0), syscall.EROFS},
		{"access X_OK", v.AccessAt(nil, "/etc/hosts", vfs.X_OK, 0), syscall.EACCES},
		{"access X_OK exe", v.AccessAt(nil, "/app/bin/server", vfs.X_OK, 0), 0},
	} {
		if errno(tc.err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}

	// ".." leaves a mount the way it came in; getcwd sees through mounts.
	if err := v.Chdir(nil, "/tmp"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, v, "../etc/hosts"); got == "" {
		t.Error("../etc/hosts from /tmp")
	}
	must(t, v.MkdirAt(nil, "a", 0o755))
	must(t, v.Chdir(nil, "a"))
	if cwd, err := v.Getcwd(); cwd != "/tmp/a" || err != nil {
		t.Errorf("getcwd = %q %v", cwd, err)
	}
	must(t, v.UnlinkAt(nil, "/tmp/a", vfs.AT_REMOVEDIR))
	if _, err := v.Getcwd(); err != syscall.ENOENT {
		t.Errorf("getcwd of removed dir: %v", err)
	}
	if err := open2(v, "x", syscall.O_CREAT|syscall.O_WRONLY); err != syscall.ENOENT {
		t.Errorf("create in removed cwd: %v", err)
	}

	// Different mounts have different st_dev; statfs knows who is who.
	var s1, s2 syscall.Stat_t
	must(t, v.StatAt(nil, "/etc/hosts", &s1, 0))
	must(t, v.StatAt(nil, "/tmp/f", &s2, 0))
	if s1.Dev == s2.Dev || s1.Mode != syscall.S_IFREG|0o644 || s1.Size != 20 {
		t.Errorf("stat: dev %d/%d mode %#o size %d", s1.Dev, s2.Dev, s1.Mode, s1.Size)
	}
	var sf syscall.Statfs_t
	must(t, v.StatfsAt(nil, "/", &sf))
	if sf.Flags&vfs.ST_RDONLY == 0 {
		t.Error("statfs / not read-only")
	}
	must(t, v.StatfsAt(nil, "/tmp", &sf))
	if sf.Type != tmpfs.Magic || sf.Flags&vfs.ST_RDONLY != 0 {
		t.Errorf("statfs /tmp type %#x flags %#x", sf.Type, sf.Flags)
	}

	// The root listing shows the namespace-only /tmp mount point.
	names := listDir(t, v, "/")
	for _, want := range []string{".", "..", "app", "etc", "proc", "tmp", "dev", "sys"} {
		if !names[want] {
			t.Errorf("/ listing lacks %q: %v", want, names)
		}
	}
}

// renameMountPoint mounts a tmpfs at /tmp/inner and renames it.
func renameMountPoint(v *vfs.VFS) error {
	if err := v.Mount("/tmp/inner", tmpfs.New(tmpfs.Options{}), 0); err != nil {
		return err
	}
	if err := v.UnlinkAt(nil, "/tmp/inner", vfs.AT_REMOVEDIR); err != syscall.EBUSY {
		return fmt.Errorf("rmdir of mount point: %v", err)
	}
	return v.RenameAt2(nil, "/tmp/inner", nil, "/tmp/other", 0)
}

func open2(v *vfs.VFS, p string, flags int) error {
	d, err := v.OpenAt(nil, p, flags, 0o644)
	if err == nil {
		d.Close()
	}
	return err
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return 0xffff // not an errno at all: never equal to an expectation
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// dirent is one decoded linux_dirent64.
type dirent struct {
	ino    uint64
	off    int64
	reclen uint16
	typ    uint8
	name   string
}

// parseDirents decodes getdents64 output, checking the layout rules.
func parseDirents(t *testing.T, buf []byte) []dirent {
	t.Helper()
	var out []dirent
	for len(buf) > 0 {
		if len(buf) < 19 {
			t.Fatalf("truncated record: %d bytes", len(buf))
		}
		d := dirent{
			ino:    binary.LittleEndian.Uint64(buf[0:]),
			off:    int64(binary.LittleEndian.Uint64(buf[8:])),
			reclen: binary.LittleEndian.Uint16(buf[16:]),
			typ:    buf[18],
		}
		if d.reclen%8 != 0 || int(d.reclen) > len(buf) || d.reclen < 24 {
			t.Fatalf("bad d_reclen %d", d.reclen)
		}
		name := buf[19:d.reclen]
		end := bytes.IndexByte(name, 0)
		if end < 0 {
			t.Fatalf("name not NUL-terminated")
		}
		d.name = string(name[:end])
		out = append(out, d)
		buf = buf[d.reclen:]
	}
	return out
}

func listDir(t *testing.T, v *vfs.VFS, p string) map[string]bool {
	t.Helper()
	d, err := v.OpenAt(nil, p, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	names := map[string]bool{}
	buf := make([]byte, 4096)
	for {
		n, err := d.(fdesc.Directory).ReadDirents(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return names
		}
		for _, e := range parseDirents(t, buf[:n]) {
			names[e.name] = true
		}
	}
}

func TestDevices(t *testing.T) {
	v := namespace(t)
	for _, tc := range []struct {
		path  string
		first byte
		n     int
		werr  error
	}{
		{"/dev/null", 0, 0, nil},
		{"/dev/zero", 0, 100, nil},
		{"/dev/urandom", 0xAB, 100, nil},
		{"/dev/full", 0, 100, syscall.ENOSPC},
	} {
		d, err := v.OpenAt(nil, tc.path, syscall.O_RDWR, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		buf := bytes.Repeat([]byte{1}, 100)
		n, err := d.Read(buf)
		if n != tc.n || err != nil || (n > 0 && buf[0] != tc.first) {
			t.Errorf("%s: read %d %v % x", tc.path, n, err, buf[:1])
		}
		if n, err := d.Write([]byte("data")); err != tc.werr || (err == nil && n != 4) {
			t.Errorf("%s: write %d %v", tc.path, n, err)
		}
		var st syscall.Stat_t
		must(t, d.Stat(&st))
		if st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev>>8 != 1 {
			t.Errorf("%s: mode %#o rdev %#x", tc.path, st.Mode, st.Rdev)
		}
		if p, ok := d.(fdesc.Pollable); !ok || p.Readiness() != fdesc.PollIn|fdesc.PollOut {
			t.Errorf("%s: not always ready", tc.path)
		}
		d.Close()
	}
	if err := open2(v, "/dev/null", syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC); err != nil {
		t.Errorf("shell-style > /dev/null: %v", err)
	}
}

// syncCounter is a file system that counts Sync calls.
type syncCounter struct {
	vfs.Filesystem
	n int
}

func (s *syncCounter) Sync() error { s.n++; return nil }

func TestSyncAllAndSyncFS(t *testing.T) {
	v := vfs.New(tmpfs.New(tmpfs.Options{}), vfs.Options{})
	a, b := &syncCounter{Filesystem: tmpfs.New(tmpfs.Options{})}, &syncCounter{Filesystem: tmpfs.New(tmpfs.Options{})}
	if err := v.Mount("/a", a, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.Mount("/b", b, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.SyncAll(); err != nil || a.n != 1 || b.n != 1 {
		t.Fatalf("SyncAll: %v, counts %d %d", err, a.n, b.n)
	}
	d, err := v.OpenAt(nil, "/b", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := vfs.DentryOf(d).SyncFS(); err != nil || a.n != 1 || b.n != 2 {
		t.Fatalf("SyncFS: %v, counts %d %d", err, a.n, b.n)
	}
}
