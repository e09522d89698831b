package linux

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/mem"
)

// PCI support for service-context drivers (kernel/devices): configuration
// space through the legacy ports, register windows of BARs, and MSI
// vectors. The PCI logic itself (scanning, BAR sizing, capabilities,
// MSI-X tables) is in kernel/drivers/pci; the kernel only does what needs
// ring 0 and keeps the interrupt vectors.

const (
	pciAddrPort = 0xCF8
	pciDataPort = 0xCFC

	// MSI vectors use the "virtual GSIs" msiFirst..VectorIRQCount-1 of the
	// IRQ vector range. GSIs below msiFirst are I/O APIC inputs (microvm's
	// second I/O APIC ends at 47).
	msiFirst = 48
)

var (
	isMSI   [VectorIRQCount]bool
	nextMSI = msiFirst
)

// PCIConfig(op, bdf, off, val): op 0 reads and 1 writes the 32-bit
// register at off (4-aligned, < 256) of function bdf (bus<<8 | dev<<3 |
// fn) through ports 0xCF8/0xCFC (PCI 3.0 §3.2.2.3.2). The kernel lock
// keeps the address/data pair atomic. Machines without PCI (microvm) read
// all ones.
//
//go:nosplit
func sysPCIConfig(f *amd64.Frame) uintptr {
	op, bdf, off, val := f.RDI, f.RSI, f.RDX, f.R10
	if bdf > 0xFFFF || off > 0xFC || off&3 != 0 || op > 1 {
		return errno(syscall.EINVAL)
	}
	amd64.Outl(pciAddrPort, 0x8000_0000|uint32(bdf)<<8|uint32(off))
	if op == 1 {
		amd64.Outl(pciDataPort, uint32(val))
		return 0
	}
	return uintptr(amd64.Inl(pciDataPort))
}

// MSIAlloc(): a new MSI vector for a driver. The result packs the
// virtual GSI to pass to IRQWait (bits 0-7), the LAPIC ID to address the
// message to (bits 8-15) and the vector to put in the message data (bits
// 16-23).
//
//go:nosplit
func sysMSIAlloc(f *amd64.Frame) uintptr {
	if nextMSI >= VectorIRQCount {
		return errno(syscall.ENOSPC)
	}
	gsi := nextMSI
	nextMSI++
	isMSI[gsi] = true
	return uintptr(gsi) | uintptr(amd64.APICID()&0xFF)<<8 | uintptr(VectorIRQBase+gsi)<<16
}

// mmioAllowed reports whether the service may map [pa, pa+size) as
// device registers outside the devices found at boot (PCI BARs): anything
// that is not RAM, not the first MiB, and not the I/O APIC or local APIC
// pages, which only the kernel programs.
//
//go:nosplit
func mmioAllowed(pa, size uint64) bool {
	const lowMem, apicStart, apicEnd = 1 << 20, 0xFEC0_0000, 0xFEF0_0000
	end := pa + size
	if size == 0 || size > 1<<30 || end < pa || pa < lowMem {
		return false
	}
	if pa < apicEnd && end > apicStart {
		return false
	}
	return !mem.OverlapsRAM(uintptr(pa), uintptr(end))
}
