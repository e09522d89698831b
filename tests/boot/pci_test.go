package boot_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stardust-go/stardust/vmm"
)

// The same devices over virtio-pci: on q35 and pc the kernel scans PCI
// configuration space and gives each virtio function one MSI-X vector.

// TestPCINetwork serves HTTP from a q35 VM with two vCPUs (virtio-net-pci).
func TestPCINetwork(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	wait := background(t, image(t, "../../../examples/httpd"), vmm.Config{Machine: "q35", SMP: 2, Ports: []string{fmt.Sprintf("%d:8080", port)}})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if body := getRetry(t, base+"/"); !strings.Contains(body, "Hello from Stardust! (linux/amd64, 2 CPUs)") {
		t.Fatalf("GET / = %q", body)
	}
	for i := 0; i < 20; i++ {
		msg := strings.Repeat(fmt.Sprint(i), 5000*i)
		resp, err := http.Post(base+"/echo", "text/plain", strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != msg {
			t.Fatalf("echo %d: %d bytes back (%v), want %d", i, len(got), err, len(msg))
		}
	}
	http.Get(base + "/quit")
	expectExit(t, wait(), 0)
}

// TestPCIDiskAndShare: an ext4 volume (virtio-blk-pci) on q35 and a 9P
// share (virtio-9p-pci) on pc.
func TestPCIDiskAndShare(t *testing.T) {
	t.Parallel()
	img := newVolume(t, 32<<20)
	b := run(t, image(t, "disk"), vmm.Config{Machine: "q35", Disks: []string{img}, Args: []string{"write"}})
	expectExit(t, b, 0)
	b = run(t, image(t, "disk"), vmm.Config{Machine: "q35", Disks: []string{img}, Args: []string{"read"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `read: "persisted across reboots" <nil>`)
	fsckImage(t, img)

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "from-host.txt"), []byte("hello from the host"), 0o644)
	b = run(t, image(t, "share"), vmm.Config{Machine: "pc", Shares: []string{dir + ":/host"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `read: "hello from the host" <nil>\nwrite: <nil>`)
}

// TestEntropyDevice: the kernel mixes bytes from virtio-rng (MMIO on
// microvm, PCI on q35) into its generator shortly after boot (the sleep
// program runs long enough for it).
func TestEntropyDevice(t *testing.T) {
	t.Parallel()
	for m, want := range map[string]string{"microvm": "virtio-mmio@0x", "q35": "virtio-pci "} {
		b := run(t, image(t, "sleep"), vmm.Config{Machine: m, Options: []string{"verbose"}})
		expectExit(t, b, 0)
		expectOutput(t, b, `\[stardust\] entropy: 64 bytes from `+want+`\S+ mixed in`)
	}
}
