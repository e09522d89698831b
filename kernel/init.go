package kernel

import (
	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/devices"
	_ "github.com/stardust-go/stardust/kernel/files" // the file namespace (mounted by its init)
	"github.com/stardust-go/stardust/kernel/services"
)

// init runs in the Go program, in ring 3, before main.main: it starts the
// service goroutines that answer forwarded system calls, and one that
// feeds the kernel's generator from a virtio-rng device. The generator is
// already seeded (RDRAND/RDSEED and timing jitter); the host's bytes are
// mixed in a few milliseconds later, without delaying main (waiting for
// them cost 10 ms of boot under TCG). Referencing the
// PVH entry point here keeps the whole kernel in the link: nothing in the
// Go program calls the boot code, only the hypervisor does.
func init() {
	if amd64.PVHEntryPC() == 0 {
		panic("stardust: kernel entry point missing")
	}
	services.Start()
	go devices.FeedEntropy() // a virtio-rng device, if the VM has one
}
