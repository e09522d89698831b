package boot_test

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fs/ext4"
	"github.com/stardust-go/stardust/vmm"
	bolt "go.etcd.io/bbolt"
)

// e2tool finds an e2fsprogs program (scripts/setup-debian.sh installs
// them); a missing one fails the test.
func e2tool(t *testing.T, name string) string {
	t.Helper()
	path, err := ext4.FindTool(name)
	if err != nil {
		t.Fatalf("%v (scripts/setup-debian.sh installs it)", err)
	}
	return path
}

// newVolume makes an empty ext4 image of size bytes with mke2fs.
func newVolume(t *testing.T, size int64) string {
	t.Helper()
	e2tool(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "vol.img")
	if err := ext4.CreateImage(img, size, ""); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestDeviceWithoutPart boots an image built without disks and shares
// with a disk and a share attached: the kernel says, once per device, that
// it ignores it and how to build an image that uses it, and the program
// runs as usual.
func TestDeviceWithoutPart(t *testing.T) {
	t.Parallel()
	img := newVolume(t, 8<<20)
	b := run(t, image(t, "../../../examples/hello"), vmm.Config{Disks: []string{img}, Shares: []string{t.TempDir() + ":/host"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `\[stardust\] files: virtio-9p share virtio-mmio@0x[0-9a-f]+ ignored: this image was built without shares \(stardust build -with shares\)\n`)
	expectOutput(t, b, `\[stardust\] files: virtio-blk disk virtio-mmio@0x[0-9a-f]+ ignored: this image was built without disks \(stardust build -with disks\)\n`)
	expectOutput(t, b, `Hello from Stardust!`)

	// On q35 the devices are on PCI, which only the device layer scans: an
	// image that links it (here for virtio-rng) reports them too.
	b = run(t, image(t, "sleep"), vmm.Config{Machine: "q35", Disks: []string{img}})
	expectExit(t, b, 0)
	expectOutput(t, b, `\[stardust\] files: virtio-blk disk virtio-pci \S+ ignored: this image was built without disks \(stardust build -with disks\)\n`)
}

// TestDiskVolume attaches an ext4 image made by mke2fs (-disk): one boot
// writes, fsyncs and renames; the next boot reads what it left; between
// and after, e2fsck checks the image on the host.
func TestDiskVolume(t *testing.T) {
	t.Parallel()
	img := newVolume(t, 32<<20)
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
	if err != nil {
		t.Fatalf("e2fsck -fy: %v\n%s", err, out)
	}
}

// TestDiskSurvivesKill kills QEMU (SIGKILL) at random points while the
// guest appends and fsyncs records (creating, renaming and removing files
// in between), several times over: after each kill e2fsck finds the
// replayed file system clean, and the next boot finds every record the
// guest reported as fsynced, in order.
func TestDiskSurvivesKill(t *testing.T) {
	t.Parallel()
	requireQEMU(t)
	img := newVolume(t, 32<<20)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	synced := -1 // the last record a killed boot reported as fsynced
	for round := 0; round < 6; round++ {
		ctx, kill := context.WithCancel(context.Background())
		target := synced + 1 + rng.Intn(25)
		delay := time.Duration(rng.Intn(50)) * time.Millisecond
		w := &watcher{target: target, found: func() { time.AfterFunc(delay, kill) }}
		_, err := vmm.Run(ctx, vmm.Config{Image: image(t, "disk"), Disks: []string{img}, Args: []string{"crash"},
			Stdout: w, Timeout: 2 * time.Minute})
		kill()
		out := w.String()
		if err != context.Canceled {
			t.Fatalf("round %d: the VM was not killed mid-write: %v\n%s", round, err, out)
		}
		m := regexp.MustCompile(`existing (\d+) in order: (\w+)`).FindStringSubmatch(out)
		if m == nil || m[2] != "true" {
			t.Fatalf("round %d: log damaged:\n%s", round, out)
		}
		if n, _ := strconv.Atoi(m[1]); n < synced+1 {
			t.Fatalf("round %d: %d records survived, but record %d was reported fsynced", round, n, synced)
		}
		synced = w.last
		t.Logf("round %d: killed %v after record %d was fsynced", round, delay, synced)
		fsckImage(t, img)
	}
	b := run(t, image(t, "disk"), vmm.Config{Disks: []string{img}, Args: []string{"records"}})
	expectExit(t, b, 0)
	m := expectOutput(t, b, `records: (\d+) in order: true`)
	if n, _ := strconv.Atoi(m[1]); n <= synced {
		t.Fatalf("%d records at the end; record %d was reported fsynced", n, synced)
	}
}

// watcher is a console writer that follows the "synced N" lines and calls
// found once N reaches target.
type watcher struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	line   []byte
	last   int
	target int
	found  func()
}

var syncedLine = regexp.MustCompile(`^synced (\d+)$`)

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for _, c := range p {
		if c != '\n' {
			w.line = append(w.line, c)
			continue
		}
		if m := syncedLine.FindSubmatch(bytes.TrimSpace(w.line)); m != nil {
			w.last, _ = strconv.Atoi(string(m[1]))
			if w.found != nil && w.last >= w.target {
				w.found()
				w.found = nil
			}
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestFileMmap maps files on tmpfs and on an ext4 volume: shared mappings
// coherent with pread/pwrite, msync, private mappings, mappings outliving
// their descriptor, EACCES/ENODEV, flock between descriptions. The
// expected lines are what the same program prints on Linux.
func TestFileMmap(t *testing.T) {
	t.Parallel()
	img := newVolume(t, 32<<20)
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
	img := newVolume(t, 64<<20)
	b := run(t, image(t, "bolt"), vmm.Config{Disks: []string{img}, Args: []string{"write"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `second open: timeout\nwritten, size \d+`)
	if n := hostBoltKeys(t, img); n != 5000 {
		t.Fatalf("bbolt on the host finds %d keys in the guest's database, want 5000", n)
	}
	b = run(t, image(t, "bolt"), vmm.Config{Disks: []string{img}, Args: []string{"read"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `read 5000 of 5000`)
	fsckImage(t, img)
}

// hostBoltKeys copies /app.db out of the ext4 image (with Stardust's ext4
// package, on the host) and counts its keys with bbolt on the host.
func hostBoltKeys(t *testing.T, img string) int {
	t.Helper()
	dev, err := ext4.OpenFile(img, true)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ext4.Mount(dev, ext4.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ino, err := fs.Lookup(ext4.RootIno, "app.db")
	if err != nil {
		t.Fatal(err)
	}
	st, err := fs.Stat(ino)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, st.Size)
	if _, err := fs.ReadAt(ino, data, 0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "app.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("things")); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}

// TestSyncSurvivesKill: data written without fsync and then sync(2)ed is
// on the disk when QEMU is killed right after.
func TestSyncSurvivesKill(t *testing.T) {
	t.Parallel()
	requireQEMU(t)
	img := newVolume(t, 32<<20)
	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	var out syncWatch
	out.found = kill
	_, err := vmm.Run(ctx, vmm.Config{Image: image(t, "disk"), Disks: []string{img}, Args: []string{"sync"}, Stdout: &out, Timeout: 2 * time.Minute})
	if err != context.Canceled {
		t.Fatalf("the VM was not killed after sync: %v", err)
	}
	b := run(t, image(t, "disk"), vmm.Config{Disks: []string{img}, Args: []string{"readsync"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `after kill: "made durable by sync\(2\)" <nil>`)
}

// syncWatch calls found (once) when the console says "synced".
type syncWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	found func()
}

func (w *syncWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.found != nil && strings.Contains(w.buf.String(), "synced\n") {
		w.found()
		w.found = nil
	}
	return len(p), nil
}
