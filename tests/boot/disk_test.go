package boot_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fs/ext4"
	"github.com/stardust-go/stardust/vmm"
)

// e2tool finds an e2fsprogs program (scripts/setup-debian.sh installs
// them); a missing one fails the test.
func e2tool(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatalf("%s not found: install e2fsprogs (scripts/setup-debian.sh)", name)
	return ""
}

// TestDiskVolume attaches an ext4 image made by mke2fs (-disk): one boot
// writes, fsyncs and renames; the next boot reads what it left; between
// and after, e2fsck checks the image on the host.
func TestDiskVolume(t *testing.T) {
	t.Parallel()
	e2tool(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "vol.img")
	if err := ext4.CreateImage(img, 32<<20, ""); err != nil {
		t.Fatal(err)
	}
	b := run(t, image(t, "disk"), vmm.Config{Disks: []string{img + ":/data"}, Args: []string{"write"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `written`)
	fsckImage(t, img)

	b = run(t, image(t, "disk"), vmm.Config{Disks: []string{img}, Args: []string{"read"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `read: "persisted across reboots" <nil>\nold name gone: true`)
	fsckImage(t, img)
}

// fsckImage checks a copy of img with e2fsck, which first replays the
// journal as a mount would (the program exits without unmounting, which is
// a crash as far as the file system knows). Exit status 0 is clean, 1 is
// "recovered the journal / fixed".
func fsckImage(t *testing.T, img string) {
	t.Helper()
	cp := img + ".fsck"
	if out, err := exec.Command("cp", "--sparse=always", img, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	out, err := exec.Command(e2tool(t, "e2fsck"), "-fy", cp).CombinedOutput()
	t.Logf("e2fsck -fy:\n%s", out)
	if err != nil {
		t.Fatalf("e2fsck -fy: %v\n%s", err, out)
	}
}

// TestDiskSurvivesKill kills QEMU (SIGKILL) while the guest appends and
// fsyncs records: every record whose fsync returned is there at the next
// boot, in order, and the file system is consistent.
func TestDiskSurvivesKill(t *testing.T) {
	t.Parallel()
	e2tool(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "vol.img")
	if err := ext4.CreateImage(img, 32<<20, ""); err != nil {
		t.Fatal(err)
	}
	requireQEMU(t)
	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	const killAfter = 20
	w := &watcher{want: fmt.Sprintf("synced %d\n", killAfter), found: kill}
	_, err := vmm.Run(ctx, vmm.Config{Image: image(t, "disk"), Disks: []string{img}, Args: []string{"crash"},
		Stdout: w, Timeout: 2 * time.Minute})
	if err != context.Canceled {
		t.Fatalf("the VM was not killed mid-write: %v\n%s", err, w.buf.String())
	}
	fsckImage(t, img)
	b := run(t, image(t, "disk"), vmm.Config{Disks: []string{img}, Args: []string{"records"}})
	expectExit(t, b, 0)
	m := expectOutput(t, b, `records: (\d+) in order: true`)
	if n, _ := strconv.Atoi(m[1]); n <= killAfter {
		t.Fatalf("%d records after the kill; at least %d were fsynced", n, killAfter+1)
	}
}

// watcher is a console writer that calls found once want appears.
type watcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	found func()
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.found != nil && strings.Contains(w.buf.String(), w.want) {
		w.found()
		w.found = nil
	}
	return len(p), nil
}

// TestFileMmap maps files on tmpfs and on an ext4 volume: shared mappings
// coherent with pread/pwrite, msync, private mappings, mappings outliving
// their descriptor, EACCES/ENODEV, flock between descriptions. The
// expected lines are what the same program prints on Linux.
func TestFileMmap(t *testing.T) {
	t.Parallel()
	e2tool(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "vol.img")
	if err := ext4.CreateImage(img, 32<<20, ""); err != nil {
		t.Fatal(err)
	}
	b := run(t, image(t, "mmap"), vmm.Config{Disks: []string{img}})
	expectExit(t, b, 0)
	for _, dir := range []string{"/tmp", "/data"} {
		want := strings.ReplaceAll(`@ ro content: true
@ ro sees pwrite: true true
@ read sees store: "STORED"
@ private stays private: true
@ after close: "STORED"
@ file: "PWRITE" "STORED" "GROWN"
@ write-only: permission denied
@ directory: no such device
@ flock conflict: resource temporarily unavailable
@ flock after close: <nil>
`, "@", dir)
		if !strings.Contains(b.out, want) {
			t.Errorf("console lacks\n%s\nconsole:\n%s", want, b.out)
		}
	}
}

// TestBoltDatabase: a bbolt database (mmap, pwrite, fdatasync, flock,
// ftruncate as it grows) written in one boot reads back in the next.
func TestBoltDatabase(t *testing.T) {
	t.Parallel()
	e2tool(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "vol.img")
	if err := ext4.CreateImage(img, 64<<20, ""); err != nil {
		t.Fatal(err)
	}
	b := run(t, image(t, "bolt"), vmm.Config{Disks: []string{img}, Args: []string{"write"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `second open: timeout\nwritten, size \d+`)
	b = run(t, image(t, "bolt"), vmm.Config{Disks: []string{img}, Args: []string{"read"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `read 5000 of 5000`)
	fsckImage(t, img)
}
