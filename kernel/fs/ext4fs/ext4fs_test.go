package ext4fs_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/ext4"
	"github.com/stardust-go/stardust/kernel/fs/ext4fs"
	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs/vfstest"
)

// tool finds an e2fsprogs binary: a missing one fails in CI (which
// installs e2fsprogs) and skips elsewhere.
func tool(t *testing.T, name string) string {
	t.Helper()
	if path, err := ext4.FindTool(name); err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found: install e2fsprogs", name)
	}
	t.Skipf("%s not found (install e2fsprogs)", name)
	return ""
}

// newDisk makes a 32 MiB ext4 image with mke2fs, filled from src if set.
func newDisk(t *testing.T, src string) string {
	tool(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := ext4.CreateImage(img, 32<<20, src); err != nil {
		t.Fatal(err)
	}
	return img
}

// mount mounts img at /mnt of a fresh VFS; the returned function unmounts
// it cleanly (ext4 Close).
func mount(t *testing.T, img string, opt ext4.Options) (*vfs.VFS, *ext4.FS) {
	t.Helper()
	dev, err := ext4.OpenFile(img, opt.ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ext4.Mount(dev, opt)
	if err != nil {
		t.Fatal(err)
	}
	v := vfs.New(tmpfs.New(tmpfs.Options{}), vfs.Options{})
	var flags vfs.MountFlags
	if ro, _ := fs.ReadOnly(); ro {
		flags = vfs.MountReadOnly
	}
	if err := v.Mount("/mnt", ext4fs.New(fs), flags); err != nil {
		t.Fatal(err)
	}
	return v, fs
}

func fsck(t *testing.T, img string) {
	t.Helper()
	if out, err := exec.Command(tool(t, "e2fsck"), "-fn", img).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, v *vfs.VFS, path string, data []byte, flags int) fdesc.Description {
	t.Helper()
	d, err := v.OpenAt(nil, path, syscall.O_CREAT|syscall.O_RDWR|flags, 0o644)
	must(t, err)
	if _, err := d.Write(data); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRandomAgainstLinux runs the shared random operation sequence through
// VFS → ext4fs → ext4 and on a host directory, then checks the disk with
// e2fsck and extracts its tree with debugfs (e2fsprogs' own reader) to
// compare with the host's.
func TestRandomAgainstLinux(t *testing.T) {
	img := newDisk(t, "")
	v, fs := mount(t, img, ext4.Options{})
	ref := t.TempDir()
	vfstest.CompareWithLinux(t, v, "/mnt", ref, 600, 7)
	must(t, fs.Close())
	fsck(t, img)
	out := t.TempDir()
	if b, err := exec.Command(tool(t, "debugfs"), "-R", "rdump / "+out, img).CombinedOutput(); err != nil {
		t.Fatalf("debugfs rdump: %v\n%s", err, b)
	}
	os.RemoveAll(filepath.Join(out, "lost+found"))
	if a, b := vfstest.Tree(t, out), vfstest.Tree(t, ref); a != b {
		t.Fatalf("trees differ:\next4:\n%s\nLinux:\n%s", a, b)
	}
}

// TestFilesFromMke2fs reads what mke2fs -d put on the disk.
func TestFilesFromMke2fs(t *testing.T) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "etc/app"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "etc/app/config.json"), []byte(`{"port":8080}`), 0o640))
	must(t, os.Symlink("app/config.json", filepath.Join(src, "etc/cfg")))
	v, _ := mount(t, newDisk(t, src), ext4.Options{})
	d, err := v.OpenAt(nil, "/mnt/etc/cfg", syscall.O_RDONLY, 0)
	must(t, err)
	buf := make([]byte, 100)
	n, _ := d.Read(buf)
	if got := string(buf[:n]); got != `{"port":8080}` {
		t.Fatalf("read %q", got)
	}
	var st syscall.Stat_t
	must(t, d.Stat(&st))
	if st.Mode != syscall.S_IFREG|0o640 || st.Size != 13 || st.Blksize != 4096 && st.Blksize != 1024 {
		t.Fatalf("stat: mode %o size %d blksize %d", st.Mode, st.Size, st.Blksize)
	}
	d.Close()
	var sf syscall.Statfs_t
	must(t, v.StatfsAt(nil, "/mnt", &sf))
	if sf.Type != 0xEF53 || sf.Blocks == 0 || sf.Bfree > sf.Blocks {
		t.Fatalf("statfs: %+v", sf)
	}
}

// TestPersistence: data written and fsynced survives an unclean stop (the
// FS is abandoned without Close, as when QEMU is killed) and journal
// replay at the next mount.
func TestPersistence(t *testing.T) {
	img := newDisk(t, "")
	v, _ := mount(t, img, ext4.Options{})
	must(t, v.MkdirAt(nil, "/mnt/data", 0o755))
	want := bytes.Repeat([]byte("stardust "), 100000)
	d := writeFile(t, v, "/mnt/data/log", want, 0)
	must(t, d.(fdesc.Syncer).Sync(false))
	// Abandon the mount: no Close, no further commits.
	v2, fs2 := mount(t, img, ext4.Options{})
	d2, err := v2.OpenAt(nil, "/mnt/data/log", syscall.O_RDONLY, 0)
	must(t, err)
	got := make([]byte, len(want)+10)
	n, _ := d2.(fdesc.Positional).ReadAt(got, 0)
	if !bytes.Equal(got[:n], want) {
		t.Fatalf("after replay read %d bytes, want %d", n, len(want))
	}
	d2.Close()
	must(t, fs2.Close())
	fsck(t, img)
}

// TestUnlinkWhileOpen: an open file outlives its name; its blocks are
// freed at the last close.
func TestUnlinkWhileOpen(t *testing.T) {
	img := newDisk(t, "")
	v, fs := mount(t, img, ext4.Options{})
	var before syscall.Statfs_t
	must(t, v.StatfsAt(nil, "/mnt", &before))
	d := writeFile(t, v, "/mnt/tmp", make([]byte, 4<<20), 0)
	must(t, v.UnlinkAt(nil, "/mnt/tmp", 0))
	if _, err := d.(fdesc.Positional).WriteAt([]byte("still here"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, _ := d.(fdesc.Positional).ReadAt(buf, 0); string(buf[:n]) != "still here" {
		t.Fatalf("read %q after unlink", buf[:n])
	}
	must(t, d.Close())
	must(t, fs.Sync())
	var after syscall.Statfs_t
	must(t, v.StatfsAt(nil, "/mnt", &after))
	if after.Bfree < before.Bfree {
		t.Fatalf("free blocks %d after close, %d before: the file's blocks leaked", after.Bfree, before.Bfree)
	}
	must(t, fs.Close())
	fsck(t, img)
}

// TestTruncateChmodUtimes covers SetAttr.
func TestTruncateChmodUtimes(t *testing.T) {
	img := newDisk(t, "")
	v, fs := mount(t, img, ext4.Options{})
	writeFile(t, v, "/mnt/f", []byte("hello, world"), 0).Close()
	must(t, v.TruncateAt(nil, "/mnt/f", 5))
	must(t, v.ChmodAt(nil, "/mnt/f", 0o600, 0))
	times := [2]syscall.Timespec{{Sec: 1000}, {Sec: 2000}}
	must(t, v.UtimensAt(nil, "/mnt/f", &times, 0))
	var st syscall.Stat_t
	must(t, v.StatAt(nil, "/mnt/f", &st, 0))
	if st.Size != 5 || st.Mode&0o7777 != 0o600 || st.Mtim.Sec != 2000 || st.Atim.Sec != 1000 {
		t.Fatalf("stat after setattr: size %d mode %o mtime %d atime %d", st.Size, st.Mode, st.Mtim.Sec, st.Atim.Sec)
	}
	d := writeFile(t, v, "/mnt/f", nil, syscall.O_TRUNC)
	d.Close()
	must(t, v.StatAt(nil, "/mnt/f", &st, 0))
	if st.Size != 0 {
		t.Fatalf("O_TRUNC left size %d", st.Size)
	}
	must(t, fs.Close())
	fsck(t, img)
}

// TestReadOnly: a read-only mount refuses every change with EROFS.
func TestReadOnly(t *testing.T) {
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	v, _ := mount(t, newDisk(t, src), ext4.Options{ReadOnly: true})
	for what, err := range map[string]error{
		"mkdir":  v.MkdirAt(nil, "/mnt/d", 0o755),
		"unlink": v.UnlinkAt(nil, "/mnt/f", 0),
		"rename": v.RenameAt2(nil, "/mnt/f", nil, "/mnt/g", 0),
		"chmod":  v.ChmodAt(nil, "/mnt/f", 0o600, 0),
	} {
		if err != syscall.EROFS {
			t.Errorf("%s on a read-only mount: %v, want EROFS", what, err)
		}
	}
	if _, err := v.OpenAt(nil, "/mnt/f", syscall.O_WRONLY, 0); err != syscall.EROFS {
		t.Errorf("open for writing: %v, want EROFS", err)
	}
}

// TestRenameFlags: RENAME_NOREPLACE refuses an existing target,
// RENAME_EXCHANGE is not supported.
func TestRenameFlags(t *testing.T) {
	v, _ := mount(t, newDisk(t, ""), ext4.Options{})
	writeFile(t, v, "/mnt/a", []byte("a"), 0).Close()
	writeFile(t, v, "/mnt/b", []byte("b"), 0).Close()
	if err := v.RenameAt2(nil, "/mnt/a", nil, "/mnt/b", vfs.RENAME_NOREPLACE); err != syscall.EEXIST {
		t.Fatalf("RENAME_NOREPLACE onto a file: %v", err)
	}
	if err := v.RenameAt2(nil, "/mnt/a", nil, "/mnt/b", vfs.RENAME_EXCHANGE); err != syscall.EINVAL {
		t.Fatalf("RENAME_EXCHANGE: %v", err)
	}
	must(t, v.RenameAt2(nil, "/mnt/a", nil, "/mnt/c", vfs.RENAME_NOREPLACE))
}
