package virtio

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/p9"
	"github.com/stardust-go/stardust/kernel/fs/p9/p9test"
)

// The driver must satisfy the client's Transport interface.
var _ p9.Transport = (*P9)(nil)

// start9P brings up the driver on a simulated device serving a temporary
// directory, and a 9P client over it.
func start9P(t *testing.T, version uint32, outOfOrder bool, opts P9Options) (*fake9P, *P9, *p9.Client, string) {
	t.Helper()
	dir := t.TempDir()
	mem := newFakeMem()
	dev := newFake9P(mem, version, "share0", p9test.New(dir))
	dev.outOfOrder = outOfOrder
	tr, err := NewMMIO(dev)
	if err != nil {
		t.Fatal(err)
	}
	drv, err := NewP9(tr, mem, opts)
	if err != nil {
		t.Fatal(err)
	}
	dev.mu.Lock()
	dev.irq = drv.HandleInterrupt
	dev.mu.Unlock()
	c, err := p9.NewClient(drv, p9.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, err := range dev.errors() {
			t.Errorf("device: %v", err)
		}
	})
	return dev, drv, c, dir
}

func TestP9Probe(t *testing.T) {
	for _, version := range []uint32{1, 2} {
		t.Run(fmt.Sprintf("mmio-v%d", version), func(t *testing.T) {
			dev, drv, c, _ := start9P(t, version, false, P9Options{MaxMessageSize: 64 << 10})
			if drv.MountTag() != "share0" {
				t.Errorf("mount tag %q", drv.MountTag())
			}
			want := uint32(StatusAcknowledge | StatusDriver | StatusDriverOK)
			if version == 2 {
				want |= StatusFeaturesOK
			}
			if dev.status != want {
				t.Errorf("status %#x, want %#x", dev.status, want)
			}
			if dev.driverF&(1<<P9FMountTag) == 0 {
				t.Error("MOUNT_TAG not negotiated")
			}
			if c.MessageSize() != 64<<10 {
				t.Errorf("msize %d", c.MessageSize())
			}
		})
	}
}

func TestP9WrongDevice(t *testing.T) {
	mem := newFakeMem()
	tr, err := NewMMIO(newFakeNet(mem, 2, 1<<FeatureVersion1|1<<NetFMAC))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewP9(tr, mem, P9Options{}); err == nil {
		t.Fatal("NewP9 accepted a network card")
	}
}

// TestP9FileIO writes and reads a file larger than msize through the
// driver: several chains per call, data checked on the host.
func TestP9FileIO(t *testing.T) {
	_, _, c, dir := start9P(t, 2, false, P9Options{MaxMessageSize: 16 << 10, Requests: 2})
	root, err := c.Attach("root", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := root.Walk()
	if err := f.Create("file", syscall.O_RDWR, 0o644, 0); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 200<<10+7)
	rand.New(rand.NewSource(2)).Read(data)
	if n, err := f.WriteAt(data, 0); n != len(data) || err != nil {
		t.Fatalf("write %d, %v", n, err)
	}
	if err := f.Fsync(true); err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile(filepath.Join(dir, "file"))
	if !bytes.Equal(host, data) {
		t.Fatalf("host has %d bytes, not what was written", len(host))
	}
	got := make([]byte, len(data)+10)
	if n, err := f.ReadAt(got, 0); n != len(data) || err != nil || !bytes.Equal(got[:n], data) {
		t.Fatalf("read %d, %v", n, err)
	}
	_, err = root.Walk("missing")
	if err != syscall.ENOENT {
		t.Fatalf("walk to a missing name: %v", err)
	}
}

// TestP9Concurrent runs more goroutines than there are request slots
// against a device that completes chains out of order.
func TestP9Concurrent(t *testing.T) {
	dev, _, c, dir := start9P(t, 2, true, P9Options{MaxMessageSize: 16 << 10, Requests: 4})
	const n = 16
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), bytes.Repeat([]byte{byte(i)}, 20000+i), 0o644)
	}
	root, err := c.Attach("root", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := root.Walk(fmt.Sprint(i))
			if err == nil {
				err = f.Open(syscall.O_RDONLY)
			}
			if err != nil {
				errs <- err
				return
			}
			defer f.Clunk()
			buf := make([]byte, 30000)
			got, err := f.ReadAt(buf, 0)
			if err != nil || got != 20000+i || !bytes.Equal(buf[:got], bytes.Repeat([]byte{byte(i)}, got)) {
				errs <- fmt.Errorf("file %d: %d bytes, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if dev.served < n*4 {
		t.Errorf("device served only %d requests", dev.served)
	}
}

// TestP9Polling loses every interrupt: requests still complete because
// RoundTrip looks at the used ring itself after a while.
func TestP9Polling(t *testing.T) {
	dev, _, c, _ := start9P(t, 2, false, P9Options{MaxMessageSize: 16 << 10})
	dev.mu.Lock()
	dev.irq = nil
	dev.mu.Unlock()
	root, err := c.Attach("root", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.GetAttr(p9.GetBasic); err != nil {
		t.Fatal(err)
	}
}
