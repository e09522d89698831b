// Package platform hides what differs between hypervisors: how the VM
// reports its exit status and powers off. Today: QEMU (isa-debug-exit and
// isa-debugcon); Firecracker, Cloud Hypervisor and Xen will add theirs here.
//
// Execution context: trap context (//go:nosplit, no allocation).
package platform

import "github.com/stardust-go/stardust/kernel/arch/amd64"

// QEMU's isa-debug-exit device (at the port `stardust run` configures)
// ends QEMU with status (v<<1)|1, so only 0-127 survive it. The full 0-255
// status is therefore also written, before, as a line "exit N" to the
// isa-debugcon port, which `stardust run` reads from a file.
const (
	debugExitPort = 0xF4
	debugConPort  = 0xE9
)

// Statuses with a meaning for `stardust run` beyond the program's own.
const (
	// StatusKernelPanic is reported when the kernel itself failed.
	StatusKernelPanic = 255
)

// Exit powers the VM off with the program's exit status.
//
//go:nosplit
func Exit(status int) {
	record("exit ", status)
	amd64.Outl(debugExitPort, uint32(status&0x7F))
	halt()
}

// Panic powers the VM off after a kernel panic.
//
//go:nosplit
func Panic() {
	record("panic ", StatusKernelPanic)
	amd64.Outl(debugExitPort, 0x7F)
	halt()
}

//go:nosplit
func record(word string, status int) {
	for i := 0; i < len(word); i++ {
		amd64.Outb(debugConPort, word[i])
	}
	var buf [3]byte
	n := 0
	s := status & 0xFF
	for {
		buf[n] = byte('0' + s%10)
		n++
		s /= 10
		if s == 0 {
			break
		}
	}
	for n > 0 {
		n--
		amd64.Outb(debugConPort, buf[n])
	}
	amd64.Outb(debugConPort, '\n')
}

//go:nosplit
func halt() {
	// Without the exit device (another hypervisor, or a bare `qemu -kernel`)
	// stop here rather than run on.
	for {
		amd64.Cli()
		amd64.Hlt()
	}
}
