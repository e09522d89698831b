package kernel

import (
	"github.com/stardust-go/stardust/kernel/arch/amd64"
	_ "github.com/stardust-go/stardust/kernel/files" // the file namespace (mounted by its init)
	"github.com/stardust-go/stardust/kernel/services"
)

// init runs in the Go program, in ring 3, before main.main: it starts the
// service goroutines that answer forwarded system calls. (Package
// devices, linked with any part that drives devices, starts the one that
// mixes a virtio-rng device's bytes into the kernel's generator.)
// Referencing the PVH entry point here keeps the whole kernel in the
// link: nothing in the Go program calls the boot code, only the
// hypervisor does.
func init() {
	if amd64.PVHEntryPC() == 0 {
		panic("stardust: kernel entry point missing")
	}
	services.Start()
}
