package devices

import (
	"fmt"
	"os"
	"strings"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
	"github.com/stardust-go/stardust/kernel/files"
)

// init starts feeding the kernel's generator from virtio-rng devices and
// reports the virtio-pci devices that no linked part drives. This package
// is linked with every part that drives devices (disks, net, shares), or
// alone with `stardust build -with entropy`. The generator is already
// seeded (RDRAND/RDSEED and timing jitter); the host's bytes are mixed in
// a few milliseconds later, without delaying main (waiting for them cost
// 10 ms of boot under TCG).
func init() {
	files.ReportIgnoredPCI(virtioPCINames)
	go FeedEntropy()
}

// virtioPCINames names the virtio-pci devices with device ID id.
func virtioPCINames(id uint32) []string {
	var out []string
	for _, d := range VirtioDevices(id) {
		if d.pci != nil {
			out = append(out, d.Name)
		}
	}
	return out
}

// entropyBytes is how much each virtio-rng device contributes at boot:
// 512 bits, more than the generator's 256-bit key holds.
const entropyBytes = 64

// FeedEntropy reads entropyBytes from every virtio-rng device and mixes
// them into the kernel's generator (which is already seeded from
// RDRAND/RDSEED and timing jitter; this adds the host's randomness). With
// the kernel option "verbose" it reports what it did.
func FeedEntropy() {
	verbose := false
	for _, w := range strings.Fields(bridge.KernelOptions()) {
		verbose = verbose || w == "verbose"
	}
	for _, d := range VirtioDevices(virtio.DeviceIDEntropy) {
		n, err := feed(d)
		switch {
		case err != nil:
			fmt.Fprintf(os.Stderr, "[stardust] entropy: %s: %v\n", d.Name, err)
		case verbose:
			fmt.Fprintf(os.Stderr, "[stardust] entropy: %d bytes from %s mixed in\n", n, d.Name)
		}
	}
}

func feed(d Virtio) (int, error) {
	tr, serve, err := d.Open()
	if err != nil {
		return 0, err
	}
	rng, err := virtio.NewRNG(tr, DMA{})
	if err != nil {
		return 0, err
	}
	serve(rng.HandleInterrupt)
	buf := make([]byte, entropyBytes)
	got := 0
	for got < len(buf) {
		n, err := rng.Read(buf[got:])
		if err != nil {
			return got, err
		}
		got += n
	}
	return got, bridge.AddEntropy(buf)
}
