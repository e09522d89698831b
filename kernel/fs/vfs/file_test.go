package vfs_test

import (
	"bytes"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

func newTmp(t *testing.T) *vfs.VFS {
	t.Helper()
	return vfs.New(tmpfs.New(tmpfs.Options{}), vfs.Options{})
}

func openT(t *testing.T, v *vfs.VFS, p string, flags int) fdesc.Description {
	t.Helper()
	d, err := v.OpenAt(nil, p, flags, 0o666)
	if err != nil {
		t.Fatalf("open %s %#x: %v", p, flags, err)
	}
	return d
}

func write(t *testing.T, d fdesc.Description, s string) {
	t.Helper()
	if n, err := d.Write([]byte(s)); n != len(s) || err != nil {
		t.Fatalf("write %q: %d %v", s, n, err)
	}
}

func contents(t *testing.T, v *vfs.VFS, p string) string {
	t.Helper()
	d := openT(t, v, p, syscall.O_RDONLY)
	defer d.Close()
	var st syscall.Stat_t
	must(t, d.Stat(&st))
	buf := make([]byte, st.Size+10)
	n, err := d.(fdesc.Positional).ReadAt(buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestReadWriteSemantics(t *testing.T) {
	v := newTmp(t)
	const rw, wo, ro = syscall.O_RDWR, syscall.O_WRONLY, syscall.O_RDONLY
	c := syscall.O_CREAT

	f := openT(t, v, "f", c|rw)
	write(t, f, "hello world")
	if n, err := f.Read(make([]byte, 4)); n != 0 || err != nil {
		t.Errorf("read at EOF: %d %v", n, err)
	}
	pos := f.(fdesc.Positional)
	if off, _ := pos.Seek(6, 0); off != 6 {
		t.Fatal("seek")
	}
	buf := make([]byte, 5)
	if n, _ := f.Read(buf); string(buf[:n]) != "world" {
		t.Errorf("read %q", buf[:n])
	}
	// pread/pwrite do not move the offset.
	pos.WriteAt([]byte("J"), 0)
	if off, _ := pos.Seek(0, 1); off != 11 {
		t.Errorf("offset moved to %d by pwrite", off)
	}
	f.Close()
	if got := contents(t, v, "f"); got != "Jello world" {
		t.Errorf("contents %q", got)
	}

	// Access modes.
	r := openT(t, v, "f", ro)
	if _, err := r.Write([]byte("x")); err != syscall.EBADF {
		t.Errorf("write on O_RDONLY: %v", err)
	}
	if err := r.(fdesc.Truncater).Truncate(0); err != syscall.EINVAL {
		t.Errorf("ftruncate on O_RDONLY: %v", err)
	}
	w := openT(t, v, "f", wo)
	if _, err := w.Read(buf); err != syscall.EBADF {
		t.Errorf("read on O_WRONLY: %v", err)
	}
	if _, err := w.(fdesc.Positional).ReadAt(buf, 0); err != syscall.EBADF {
		t.Errorf("pread on O_WRONLY: %v", err)
	}
	if r.Flags() != syscall.O_RDONLY|vfs.O_LARGEFILE {
		t.Errorf("F_GETFL = %#x", r.Flags())
	}
	r.Close()
	w.Close()

	// O_APPEND: every write goes to the end, even pwrite (Linux quirk),
	// and F_SETFL can turn it off.
	a := openT(t, v, "f", wo|syscall.O_APPEND)
	other := openT(t, v, "f", wo)
	other.(fdesc.Positional).Seek(0, 2)
	write(t, other, "!")
	write(t, a, "+")
	a.(fdesc.Positional).WriteAt([]byte("?"), 0)
	if got := contents(t, v, "f"); got != "Jello world!+?" {
		t.Errorf("append: %q", got)
	}
	must(t, a.SetFlags(0))
	if a.Flags()&syscall.O_APPEND != 0 || a.Flags()&syscall.O_ACCMODE != wo {
		t.Errorf("F_SETFL: %#x", a.Flags())
	}
	a.Close()
	other.Close()

	// O_TRUNC, O_EXCL.
	openT(t, v, "f", wo|syscall.O_TRUNC).Close()
	if got := contents(t, v, "f"); got != "" {
		t.Errorf("after O_TRUNC: %q", got)
	}
	if _, err := v.OpenAt(nil, "f", c|syscall.O_EXCL|wo, 0o644); err != syscall.EEXIST {
		t.Errorf("O_EXCL: %v", err)
	}

	// Sparse writes: a hole reads as zeros and costs no blocks.
	s := openT(t, v, "sparse", c|rw)
	s.(fdesc.Positional).WriteAt([]byte("end"), 1<<20)
	var st syscall.Stat_t
	must(t, s.Stat(&st))
	if st.Size != 1<<20+3 || st.Blocks != 8 {
		t.Errorf("sparse: size %d blocks %d", st.Size, st.Blocks)
	}
	hole := make([]byte, 100)
	hole[0] = 1
	if n, _ := s.(fdesc.Positional).ReadAt(hole, 5000); n != 100 || !bytes.Equal(hole, make([]byte, 100)) {
		t.Error("hole does not read as zeros")
	}
	// Truncate down then up: the cut bytes come back as zeros.
	s.(fdesc.Positional).WriteAt([]byte("abcdef"), 0)
	must(t, s.(fdesc.Truncater).Truncate(3))
	must(t, s.(fdesc.Truncater).Truncate(6))
	got := make([]byte, 6)
	s.(fdesc.Positional).ReadAt(got, 0)
	if string(got) != "abc\x00\x00\x00" {
		t.Errorf("truncate down/up: %q", got)
	}
	// SEEK_DATA/SEEK_HOLE/SEEK_END.
	p := s.(fdesc.Positional)
	if off, err := p.Seek(2, 3); off != 2 || err != nil {
		t.Errorf("SEEK_DATA %d %v", off, err)
	}
	if off, err := p.Seek(2, 4); off != 6 || err != nil {
		t.Errorf("SEEK_HOLE %d %v", off, err)
	}
	if _, err := p.Seek(6, 3); err != syscall.ENXIO {
		t.Errorf("SEEK_DATA past end: %v", err)
	}
	if _, err := p.Seek(-7, 2); err != syscall.EINVAL {
		t.Errorf("seek before start: %v", err)
	}
	s.Close()

	// An unlinked file stays readable through its open description.
	u := openT(t, v, "gone", c|rw)
	write(t, u, "still here")
	must(t, v.UnlinkAt(nil, "gone", 0))
	must(t, u.Stat(&st))
	if st.Nlink != 0 {
		t.Errorf("nlink after unlink: %d", st.Nlink)
	}
	if n, _ := u.(fdesc.Positional).ReadAt(buf, 6); string(buf[:n]) != "here" {
		t.Errorf("read after unlink: %q", buf[:n])
	}
	u.Close()
}

func TestDirectoryDescriptions(t *testing.T) {
	v := newTmp(t)
	must(t, v.MkdirAt(nil, "d", 0o755))
	must(t, v.MkdirAt(nil, "d/sub", 0o755))
	long := string(bytes.Repeat([]byte("n"), 200))
	for _, n := range []string{"a", "bb", long} {
		openT(t, v, "d/"+n, syscall.O_CREAT|syscall.O_WRONLY).Close()
	}
	must(t, v.SymlinkAt("a", nil, "d/link"))

	d := openT(t, v, "d", syscall.O_RDONLY|syscall.O_DIRECTORY)
	defer d.Close()
	if _, err := d.Read(make([]byte, 10)); err != syscall.EISDIR {
		t.Errorf("read dir: %v", err)
	}
	dir := d.(fdesc.Directory)
	// A buffer too small for one record is EINVAL.
	if _, err := dir.ReadDirents(make([]byte, 20)); err != syscall.EINVAL {
		t.Errorf("tiny buffer: %v", err)
	}
	// Read with a buffer that holds about two records at a time.
	var all []dirent
	for {
		buf := make([]byte, 64)
		n, err := dir.ReadDirents(buf)
		if err != nil {
			// The 200-byte name needs a bigger buffer.
			buf = make([]byte, 512)
			n, err = dir.ReadDirents(buf)
			if err != nil {
				t.Fatal(err)
			}
		}
		if n == 0 {
			break
		}
		all = append(all, parseDirents(t, buf[:n])...)
	}
	want := map[string]uint8{".": vfs.DT_DIR, "..": vfs.DT_DIR, "a": vfs.DT_REG, "bb": vfs.DT_REG, long: vfs.DT_REG, "sub": vfs.DT_DIR, "link": vfs.DT_LNK}
	if len(all) != len(want) {
		t.Fatalf("got %d entries: %+v", len(all), all)
	}
	var st syscall.Stat_t
	for i, e := range all {
		if want[e.name] != e.typ {
			t.Errorf("%q: type %d, want %d", e.name, e.typ, want[e.name])
		}
		if e.off != int64(i+1) {
			t.Errorf("%q: d_off %d, want %d", e.name, e.off, i+1)
		}
		if e.name != "." && e.name != ".." {
			must(t, v.StatAt(nil, "d/"+e.name, &st, vfs.AT_SYMLINK_NOFOLLOW))
			if st.Ino != e.ino {
				t.Errorf("%q: d_ino %d, stat ino %d", e.name, e.ino, st.Ino)
			}
		}
	}
	if all[2].reclen != uint16(vfs.DirentSize(all[2].name)) {
		t.Errorf("reclen %d", all[2].reclen)
	}
	// Seek back to a d_off resumes there; rewinding re-reads everything.
	p := d.(fdesc.Positional)
	p.Seek(all[3].off, 0)
	buf := make([]byte, 512)
	n, _ := dir.ReadDirents(buf)
	if rest := parseDirents(t, buf[:n]); rest[0].name != all[4].name {
		t.Errorf("after seek to %d: %q, want %q", all[3].off, rest[0].name, all[4].name)
	}
	openT(t, v, "d/new", syscall.O_CREAT|syscall.O_WRONLY).Close()
	p.Seek(0, 0)
	n, _ = dir.ReadDirents(make([]byte, 4096))
	if n == 0 {
		t.Fatal("rewind returned nothing")
	}
	// Directory nlink: 2 + subdirectories.
	must(t, d.Stat(&st))
	if st.Nlink != 3 || st.Mode != syscall.S_IFDIR|0o755 {
		t.Errorf("dir stat nlink %d mode %#o", st.Nlink, st.Mode)
	}
}

func TestMetadata(t *testing.T) {
	v := newTmp(t)
	if old := v.Umask(0o077); old != 0o022 {
		t.Errorf("default umask %#o", old)
	}
	openT(t, v, "f", syscall.O_CREAT|syscall.O_WRONLY).Close() // mode 0666 &^ 077
	must(t, v.MkdirAt(nil, "d", 0o777))
	var st syscall.Stat_t
	must(t, v.StatAt(nil, "f", &st, 0))
	if st.Mode != syscall.S_IFREG|0o600 {
		t.Errorf("umask on create: %#o", st.Mode)
	}
	must(t, v.StatAt(nil, "d", &st, 0))
	if st.Mode != syscall.S_IFDIR|0o700 {
		t.Errorf("umask on mkdir: %#o", st.Mode)
	}
	must(t, v.ChmodAt(nil, "f", 0o4755, 0))
	must(t, v.StatAt(nil, "f", &st, 0))
	if st.Mode != syscall.S_IFREG|0o4755 {
		t.Errorf("chmod: %#o", st.Mode)
	}
	must(t, v.SymlinkAt("f", nil, "l"))
	if err := v.ChmodAt(nil, "l", 0o600, vfs.AT_SYMLINK_NOFOLLOW); err != syscall.EOPNOTSUPP {
		t.Errorf("lchmod: %v", err)
	}

	times := [2]syscall.Timespec{{Sec: 100, Nsec: 5}, {Sec: 200, Nsec: vfs.UTIME_OMIT}}
	must(t, v.StatAt(nil, "f", &st, 0))
	oldMtime := st.Mtim
	must(t, v.UtimensAt(nil, "f", &times, 0))
	must(t, v.StatAt(nil, "f", &st, 0))
	if st.Atim != (syscall.Timespec{Sec: 100, Nsec: 5}) || st.Mtim != oldMtime {
		t.Errorf("utimens: atime %v mtime %v (was %v)", st.Atim, st.Mtim, oldMtime)
	}
	times = [2]syscall.Timespec{{Nsec: vfs.UTIME_OMIT}, {Sec: 1, Nsec: 2e9}}
	if err := v.UtimensAt(nil, "f", &times, 0); err != syscall.EINVAL {
		t.Errorf("bad nsec: %v", err)
	}
	if err := v.UtimensAt(nil, "missing", nil, 0); err != syscall.ENOENT {
		t.Errorf("utimens missing: %v", err)
	}
	// AT_EMPTY_PATH operates on the base itself (fchmod, fstatat(fd, "")).
	d := openT(t, v, "d", syscall.O_RDONLY)
	base := vfs.DentryOf(d)
	must(t, v.ChmodAt(base, "", 0o755, vfs.AT_EMPTY_PATH))
	must(t, v.StatAt(base, "", &st, vfs.AT_EMPTY_PATH))
	if st.Mode != syscall.S_IFDIR|0o755 {
		t.Errorf("fchmod via AT_EMPTY_PATH: %#o", st.Mode)
	}
	if err := v.StatAt(base, "", &st, 0); err != syscall.ENOENT {
		t.Errorf("empty path without AT_EMPTY_PATH: %v", err)
	}
	// Relative paths resolve against the dirfd's directory.
	openT(t, v, "d/inner", syscall.O_CREAT|syscall.O_WRONLY).Close()
	must(t, v.StatAt(base, "inner", &st, 0))
	d.Close()
	if err := v.StatAt(vfs.DentryOf(openT(t, v, "f", syscall.O_RDONLY)), "x", &st, 0); err != syscall.ENOTDIR {
		t.Errorf("file as dirfd: %v", err)
	}
}

// TestConcurrency hammers one directory from several goroutines; run
// with -race. Every file must end up with exactly what its writer wrote.
func TestConcurrency(t *testing.T) {
	v := newTmp(t)
	must(t, v.MkdirAt(nil, "/shared", 0o755))
	log := openT(t, v, "/shared/log", syscall.O_CREAT|syscall.O_WRONLY|syscall.O_APPEND)
	var wg sync.WaitGroup
	const workers, rounds = 4, 50
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				tmp := fmt.Sprintf("/shared/tmp-%d-%d", w, i)
				final := fmt.Sprintf("/shared/f-%d-%d", w, i)
				d, err := v.OpenAt(nil, tmp, syscall.O_CREAT|syscall.O_EXCL|syscall.O_RDWR, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				d.Write([]byte(final))
				d.Close()
				if err := v.RenameAt2(nil, tmp, nil, final, vfs.RENAME_NOREPLACE); err != nil {
					t.Error(err)
				}
				log.Write([]byte("0123456789\n"))
				listDirQuiet(v, "/shared")
			}
		}()
	}
	wg.Wait()
	log.Close()
	for w := range workers {
		for i := range rounds {
			p := fmt.Sprintf("/shared/f-%d-%d", w, i)
			if got := contents(t, v, p); got != p {
				t.Fatalf("%s holds %q", p, got)
			}
		}
	}
	var st syscall.Stat_t
	must(t, v.StatAt(nil, "/shared/log", &st, 0))
	if st.Size != workers*rounds*11 {
		t.Errorf("log size %d, want %d (lost appends)", st.Size, workers*rounds*11)
	}
}

func listDirQuiet(v *vfs.VFS, p string) {
	d, err := v.OpenAt(nil, p, syscall.O_RDONLY, 0)
	if err != nil {
		return
	}
	defer d.Close()
	buf := make([]byte, 1024)
	for {
		if n, err := d.(fdesc.Directory).ReadDirents(buf); n == 0 || err != nil {
			return
		}
	}
}

func TestGetcwdAfterRename(t *testing.T) {
	v := newTmp(t)
	must(t, v.MkdirAt(nil, "/a", 0o755))
	must(t, v.MkdirAt(nil, "/a/b", 0o755))
	must(t, v.MkdirAt(nil, "/z", 0o755))
	must(t, v.Chdir(nil, "/a/b"))
	must(t, v.RenameAt2(nil, "/a", nil, "/z/renamed", 0))
	if cwd, err := v.Getcwd(); cwd != "/z/renamed/b" || err != nil {
		t.Errorf("getcwd after renaming an ancestor: %q %v", cwd, err)
	}
	must(t, v.MkdirAt(nil, "/y", 0o755))
	must(t, v.RenameAt2(nil, "/y", nil, "/z", vfs.RENAME_EXCHANGE))
	if cwd, _ := v.Getcwd(); cwd != "/y/renamed/b" {
		t.Errorf("getcwd after exchange: %q", cwd)
	}
	// ".." follows the new location too.
	must(t, v.Chdir(nil, ".."))
	if cwd, _ := v.Getcwd(); cwd != "/y/renamed" {
		t.Errorf("after chdir ..: %q", cwd)
	}
}
