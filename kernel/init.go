package kernel

import "github.com/stardust-go/stardust/kernel/arch/amd64"

// init runs in the Go program, in ring 3, before main.main. Referencing the
// PVH entry point here keeps the whole kernel in the link: nothing in the
// Go program calls the boot code, only the hypervisor does.
func init() {
	if amd64.PVHEntryPC() == 0 {
		panic("stardust: kernel entry point missing")
	}
}
