package p9fs_test

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/p9"
	"github.com/stardust-go/stardust/kernel/fs/p9/p9fs"
	"github.com/stardust-go/stardust/kernel/fs/p9/p9test"
	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// mountShare serves a fresh host directory with p9test and mounts it at
// /mnt of a VFS whose root is a tmpfs.
func mountShare(t *testing.T, srvOpts func(*p9test.Server), opts p9fs.Options, flags vfs.MountFlags) (*vfs.VFS, string, *p9test.Server) {
	t.Helper()
	dir := t.TempDir()
	srv := p9test.New(dir)
	if srvOpts != nil {
		srvOpts(srv)
	}
	cEnd, sEnd := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sEnd) }()
	tr := p9.NewStream(cEnd, 0)
	t.Cleanup(func() { tr.Close(); sEnd.Close(); <-served })
	fs, err := p9fs.Dial(tr, opts)
	if err != nil {
		t.Fatal(err)
	}
	v := vfs.New(tmpfs.New(tmpfs.Options{}), vfs.Options{})
	if err := v.Mount("/mnt", fs, flags); err != nil {
		t.Fatal(err)
	}
	return v, dir, srv
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func hostFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// names lists a directory through getdents64 records.
func names(t *testing.T, v *vfs.VFS, path string) []string {
	t.Helper()
	d, err := v.OpenAt(nil, path, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	must(t, err)
	defer d.Close()
	var out []string
	buf := make([]byte, 4096)
	for {
		n, err := d.(fdesc.Directory).ReadDirents(buf)
		must(t, err)
		if n == 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := binary.LittleEndian.Uint16(b[16:])
			name := string(b[19:reclen])
			out = append(out, name[:strings.IndexByte(name, 0)])
			b = b[reclen:]
		}
	}
	sort.Strings(out)
	return out
}

func TestFilesThroughVFS(t *testing.T) {
	v, dir, srv := mountShare(t, nil, p9fs.Options{}, 0)

	f, err := v.OpenAt(nil, "/mnt/f", syscall.O_CREAT|syscall.O_RDWR|syscall.O_EXCL, 0o640)
	must(t, err)
	if n, err := f.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	if got := hostFile(t, dir, "f"); got != "hello" {
		t.Fatalf("host sees %q", got)
	}
	buf := make([]byte, 10)
	if n, err := f.(fdesc.Positional).ReadAt(buf, 1); string(buf[:n]) != "ello" || err != nil {
		t.Fatalf("pread: %q %v", buf[:n], err)
	}
	var st syscall.Stat_t
	must(t, f.Stat(&st))
	var hst syscall.Stat_t
	must(t, syscall.Stat(filepath.Join(dir, "f"), &hst))
	if st.Size != 5 || st.Ino != hst.Ino || st.Mode != syscall.S_IFREG|0o640&^0o022 {
		t.Errorf("fstat: size %d ino %d (host %d) mode %o", st.Size, st.Ino, hst.Ino, st.Mode)
	}
	// fsync and fdatasync reach the host as Tfsync with datasync.
	must(t, f.(fdesc.Syncer).Sync(true))
	must(t, f.(fdesc.Syncer).Sync(false))
	if s := srv.Syncs(); len(s) != 2 || s[0] != 1 || s[1] != 0 {
		t.Errorf("datasync values %v", s)
	}
	must(t, f.Close())

	_, err = v.OpenAt(nil, "/mnt/f", syscall.O_CREAT|syscall.O_EXCL|syscall.O_RDWR, 0o644)
	wantErr(t, "O_EXCL on an existing file", err, syscall.EEXIST)
	_, err = v.OpenAt(nil, "/mnt/nope", syscall.O_RDONLY, 0)
	wantErr(t, "open of a missing file", err, syscall.ENOENT)

	// O_APPEND is the VFS's: it appends, and stops when cleared.
	a, err := v.OpenAt(nil, "/mnt/f", syscall.O_WRONLY|syscall.O_APPEND, 0)
	must(t, err)
	a.Write([]byte(" world"))
	must(t, a.SetFlags(0))
	a.(fdesc.Positional).WriteAt([]byte("J"), 0)
	a.Close()
	if got := hostFile(t, dir, "f"); got != "Jello world" {
		t.Errorf("after append and pwrite: %q", got)
	}

	// O_TRUNC, truncate, chmod, utimens go to the host.
	tr, err := v.OpenAt(nil, "/mnt/f", syscall.O_WRONLY|syscall.O_TRUNC, 0)
	must(t, err)
	tr.Close()
	if got := hostFile(t, dir, "f"); got != "" {
		t.Errorf("after O_TRUNC: %q", got)
	}
	must(t, v.TruncateAt(nil, "/mnt/f", 3000))
	must(t, v.ChmodAt(nil, "/mnt/f", 0o600, 0))
	times := [2]syscall.Timespec{{Sec: 100, Nsec: 1}, {Sec: 200, Nsec: 2}}
	must(t, v.UtimensAt(nil, "/mnt/f", &times, 0))
	must(t, syscall.Stat(filepath.Join(dir, "f"), &hst))
	if hst.Size != 3000 || hst.Mode&0o777 != 0o600 || hst.Atim != times[0] || hst.Mtim != times[1] {
		t.Errorf("host after setattr: size %d mode %o atime %v mtime %v", hst.Size, hst.Mode, hst.Atim, hst.Mtim)
	}

	// A file the host creates is seen at once (nothing is cached).
	os.WriteFile(filepath.Join(dir, "fromhost"), []byte("hi"), 0o644)
	if got := names(t, v, "/mnt"); strings.Join(got, ",") != ".,..,f,fromhost" {
		t.Errorf("listing %v", got)
	}

	var sfs syscall.Statfs_t
	must(t, v.StatfsAt(nil, "/mnt", &sfs))
	if sfs.Bsize == 0 || sfs.Blocks == 0 {
		t.Errorf("statfs %+v", sfs)
	}
}

func TestNamespaceThroughVFS(t *testing.T) {
	v, dir, _ := mountShare(t, nil, p9fs.Options{}, 0)
	must(t, v.MkdirAt(nil, "/mnt/d", 0o755))
	wantErr(t, "mkdir existing", v.MkdirAt(nil, "/mnt/d", 0o755), syscall.EEXIST)
	f, err := v.OpenAt(nil, "/mnt/d/a", syscall.O_CREAT|syscall.O_WRONLY, 0o644)
	must(t, err)
	f.Write([]byte("A"))
	f.Close()

	wantErr(t, "rmdir non-empty", v.UnlinkAt(nil, "/mnt/d", p9.AT_REMOVEDIR), syscall.ENOTEMPTY)
	wantErr(t, "unlink a directory", v.UnlinkAt(nil, "/mnt/d", 0), syscall.EISDIR)
	wantErr(t, "rmdir a file", v.UnlinkAt(nil, "/mnt/d/a", p9.AT_REMOVEDIR), syscall.ENOTDIR)

	// Symlinks are followed by the VFS.
	must(t, v.SymlinkAt("d/a", nil, "/mnt/ln"))
	if target, err := v.ReadlinkAt(nil, "/mnt/ln"); target != "d/a" || err != nil {
		t.Errorf("readlink: %q %v", target, err)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "ln")); target != "d/a" {
		t.Errorf("host link %q", target)
	}
	l, err := v.OpenAt(nil, "/mnt/ln", syscall.O_RDONLY, 0)
	must(t, err)
	b := make([]byte, 4)
	if n, _ := l.Read(b); string(b[:n]) != "A" {
		t.Errorf("read through symlink %q", b[:n])
	}
	l.Close()

	// Hard links.
	must(t, v.LinkAt(nil, "/mnt/d/a", nil, "/mnt/hard", 0))
	var st syscall.Stat_t
	must(t, v.StatAt(nil, "/mnt/hard", &st, 0))
	if st.Nlink != 2 {
		t.Errorf("nlink %d after link", st.Nlink)
	}

	// Rename with and without RENAME_NOREPLACE; EXCHANGE is unsupported.
	wantErr(t, "NOREPLACE onto an existing name",
		v.RenameAt2(nil, "/mnt/hard", nil, "/mnt/d/a", vfs.RENAME_NOREPLACE), syscall.EEXIST)
	wantErr(t, "NOREPLACE of a missing name",
		v.RenameAt2(nil, "/mnt/none", nil, "/mnt/d/a", vfs.RENAME_NOREPLACE), syscall.ENOENT)
	wantErr(t, "EXCHANGE", v.RenameAt2(nil, "/mnt/hard", nil, "/mnt/ln", vfs.RENAME_EXCHANGE), syscall.EINVAL)
	must(t, v.RenameAt2(nil, "/mnt/hard", nil, "/mnt/d/b", vfs.RENAME_NOREPLACE))
	must(t, v.RenameAt2(nil, "/mnt/d", nil, "/mnt/e", 0))
	if got := names(t, v, "/mnt/e"); strings.Join(got, ",") != ".,..,a,b" {
		t.Errorf("after renames: %v", got)
	}
	if hostFile(t, dir, "e/b") != "A" {
		t.Error("host does not see the renamed link")
	}

	// An open file survives unlink: the fid names the file, not the path.
	o, err := v.OpenAt(nil, "/mnt/e/a", syscall.O_RDWR, 0)
	must(t, err)
	must(t, v.UnlinkAt(nil, "/mnt/e/a", 0))
	must(t, v.UnlinkAt(nil, "/mnt/e/b", 0))
	if n, _ := o.(fdesc.Positional).ReadAt(b, 0); string(b[:n]) != "A" {
		t.Errorf("read after unlink: %q", b[:n])
	}
	o.Close()
	must(t, v.UnlinkAt(nil, "/mnt/e", p9.AT_REMOVEDIR))
	must(t, v.UnlinkAt(nil, "/mnt/ln", 0))
	if got := names(t, v, "/mnt"); len(got) != 2 {
		t.Errorf("share not empty at the end: %v", got)
	}

	// The cwd can live in the share.
	must(t, v.Chdir(nil, "/mnt"))
	must(t, v.MkdirAt(nil, "rel", 0o700))
	if fi, err := os.Stat(filepath.Join(dir, "rel")); err != nil || !fi.IsDir() {
		t.Errorf("relative mkdir: %v", err)
	}
}

func TestReadOnlyShares(t *testing.T) {
	setup := func(dir string) {
		os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644)
	}
	cases := []struct {
		name  string
		srv   func(*p9test.Server)
		opts  p9fs.Options
		flags vfs.MountFlags
		want  syscall.Errno
	}{
		{"mount flag", nil, p9fs.Options{}, vfs.MountReadOnly, syscall.EROFS},
		{"p9fs option", nil, p9fs.Options{ReadOnly: true}, 0, syscall.EROFS},
		{"server refuses", func(s *p9test.Server) { s.ReadOnly = true }, p9fs.Options{}, 0, syscall.EACCES},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, dir, _ := mountShare(t, c.srv, c.opts, c.flags)
			setup(dir)
			wantErr(t, "mkdir", v.MkdirAt(nil, "/mnt/d", 0o755), c.want)
			_, err := v.OpenAt(nil, "/mnt/f", syscall.O_WRONLY, 0)
			wantErr(t, "open for writing", err, c.want)
			wantErr(t, "unlink", v.UnlinkAt(nil, "/mnt/f", 0), c.want)
			wantErr(t, "chmod", v.ChmodAt(nil, "/mnt/f", 0o600, 0), c.want)
			r, err := v.OpenAt(nil, "/mnt/f", syscall.O_RDONLY, 0)
			must(t, err)
			b := make([]byte, 10)
			if n, _ := r.Read(b); string(b[:n]) != "data" {
				t.Errorf("read %q", b[:n])
			}
			r.Close()
			if hostFile(t, dir, "f") != "data" {
				t.Error("the host file changed")
			}
		})
	}
}
