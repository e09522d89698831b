package ext4

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tool finds an e2fsprogs binary. Missing tools skip the test locally but
// fail it under CI=true, so CI can never silently lose this coverage.
func tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := FindTool(name); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found: install e2fsprogs (apt-get install -y e2fsprogs)", name)
	}
	t.Skipf("%s not found (install e2fsprogs)", name)
	return ""
}

// mkImage creates an ext4 image of sizeKB KiB, optionally from srcDir.
func mkImage(t testing.TB, sizeKB int, srcDir string, extra ...string) string {
	t.Helper()
	tool(t, "mke2fs")
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := CreateImage(path, int64(sizeKB)*1024, srcDir, extra...); err != nil {
		t.Fatal(err)
	}
	return path
}

// fsck runs `e2fsck -fn` and fails the test unless the filesystem is clean.
func fsck(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command(tool(t, "e2fsck"), "-fn", path).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn %s: %v\n%s", path, err, out)
	}
}

// reindex runs `e2fsck -fyD`, which rebuilds every multi-block directory
// as an htree (mke2fs -d writes linear directories).
func reindex(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command(tool(t, "e2fsck"), "-fyD", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
	}
}

// debugfs runs one debugfs request and returns its output.
func debugfs(t testing.TB, path string, write bool, req string) string {
	t.Helper()
	args := []string{"-R", req, path}
	if write {
		args = append([]string{"-w"}, args...)
	}
	out, err := exec.Command(tool(t, "debugfs"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %s: %v\n%s", req, err, out)
	}
	return strings.TrimPrefix(string(out), "")
}

func mountFile(t testing.TB, path string, ro bool) (*FS, *FileDevice) {
	t.Helper()
	dev, err := OpenFile(path, ro)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Mount(dev, Options{ReadOnly: ro, Log: t.Logf})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	return fs, dev
}

// resolve walks a slash-separated path from the root.
func resolve(t testing.TB, fs *FS, path string) uint32 {
	t.Helper()
	ino, err := walk(fs, path)
	if err != nil {
		t.Fatalf("resolve %q: %v", path, err)
	}
	return ino
}

func walk(fs *FS, path string) (uint32, error) {
	ino := uint32(RootIno)
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if part == "" {
			continue
		}
		var err error
		if ino, err = fs.Lookup(ino, part); err != nil {
			return 0, err
		}
	}
	return ino, nil
}

func readAll(t testing.TB, fs *FS, ino uint32) []byte {
	t.Helper()
	st, err := fs.Stat(ino)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, st.Size)
	n, err := fs.ReadAt(ino, buf, 0)
	if err != nil || int64(n) != st.Size {
		t.Fatalf("read ino %d: n=%d size=%d err=%v", ino, n, st.Size, err)
	}
	return buf
}
