package virtio

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/ext4"
)

var _ ext4.BlockDevice = (*Block)(nil)

// e2tool finds an e2fsprogs binary; without it the test is skipped
// locally and fails under CI=true, like kernel/fs/ext4's own tests.
func e2tool(t *testing.T, name string) string {
	t.Helper()
	if path, err := ext4.FindTool(name); err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found: install e2fsprogs", name)
	}
	t.Skipf("%s not found (install e2fsprogs)", name)
	return ""
}

// TestExt4OnVirtioBlk runs the ext4 filesystem on the virtio-blk driver
// over the simulated PCI device: mount an mke2fs image, create files,
// write, Sync. Then it checks that what Sync made durable (the device's
// write cache flushed by FLUSH requests) mounts on its own with the new
// files, and that e2fsck finds the unmounted disk clean.
func TestExt4OnVirtioBlk(t *testing.T) {
	e2tool(t, "mke2fs")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := ext4.CreateImage(img, 8<<20, ""); err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	r := newBlkRig(t, "pci", disk, allBlkFeatures, BlockOptions{Requests: 8, MaxTransfer: 16 << 10}, false)

	fs, err := ext4.Mount(r.blk, ext4.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := fs.Mkdir(ext4.RootIno, "data", 0o755, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 300<<10) // many 16 KiB requests in flight
	rand.New(rand.NewSource(3)).Read(big)
	files := map[string][]byte{"big.bin": big, "hello.txt": []byte("hello from virtio-blk\n")}
	for name, data := range files {
		ino, err := fs.Create(d, name, 0o644, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := fs.WriteAt(ino, data, 0); err != nil || n != len(data) {
			t.Fatalf("WriteAt %s: %d, %v", name, n, err)
		}
	}
	if err := fs.Sync(); err != nil {
		t.Fatal(err)
	}
	check := func(fs *ext4.FS, where string) {
		t.Helper()
		d, err := fs.Lookup(ext4.RootIno, "data")
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for name, want := range files {
			ino, err := fs.Lookup(d, name)
			if err != nil {
				t.Fatalf("%s: lookup %s: %v", where, name, err)
			}
			got := make([]byte, len(want)+10)
			n, _ := fs.ReadAt(ino, got, 0)
			if !bytes.Equal(got[:n], want) {
				t.Errorf("%s: %s reads back %d bytes, want %d equal ones", where, name, n, len(want))
			}
		}
	}
	check(fs, "through virtio-blk")

	r.model.mu.Lock()
	durable := bytes.Clone(r.model.durable)
	flushes := r.model.counts[blkTFlush]
	r.model.mu.Unlock()
	if flushes == 0 {
		t.Error("Sync sent no FLUSH")
	}
	crashed, err := ext4.Mount(&ext4.MemDevice{Data: durable}, ext4.Options{})
	if err != nil {
		t.Fatalf("mounting what survives a power cut: %v", err)
	}
	check(crashed, "after a power cut")

	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	r.model.mu.Lock()
	err = os.WriteFile(img, r.model.disk, 0o644)
	r.model.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(e2tool(t, "e2fsck"), "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}
