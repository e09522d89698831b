package devices

import (
	"fmt"
	"os"
	"strings"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
)

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
