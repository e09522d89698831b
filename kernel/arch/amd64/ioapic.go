package amd64

import "unsafe"

// I/O APICs route device interrupt lines (GSIs) to CPU vectors (Intel
// 82093AA datasheet). Each has an index register at +0x00 and a data
// window at +0x10; redirection entry n is registers 0x10+2n (low) and
// 0x11+2n (high).

type ioapic struct {
	base    uintptr // virtual address of the registers
	gsiBase uint32
	count   uint32
}

var (
	ioapics  [8]ioapic
	nioapics int
)

//go:nosplit
func (a *ioapic) read(reg uint32) uint32 {
	*(*uint32)(unsafe.Pointer(a.base)) = reg
	return *(*uint32)(unsafe.Pointer(a.base + 0x10))
}

//go:nosplit
func (a *ioapic) write(reg, v uint32) {
	*(*uint32)(unsafe.Pointer(a.base)) = reg
	*(*uint32)(unsafe.Pointer(a.base + 0x10)) = v
}

// AddIOAPIC registers the I/O APIC whose registers are mapped at va and
// whose first line is gsiBase, and masks all its lines.
//
//go:nosplit
func AddIOAPIC(va uintptr, gsiBase uint32) {
	if nioapics == len(ioapics) {
		return
	}
	a := &ioapics[nioapics]
	nioapics++
	a.base, a.gsiBase = va, gsiBase
	a.count = (a.read(1)>>16)&0xFF + 1
	for i := uint32(0); i < a.count; i++ {
		a.write(0x10+2*i, 1<<16)
		a.write(0x11+2*i, 0)
	}
}

//go:nosplit
func findIOAPIC(gsi uint32) *ioapic {
	for i := 0; i < nioapics; i++ {
		a := &ioapics[i]
		if gsi >= a.gsiBase && gsi < a.gsiBase+a.count {
			return a
		}
	}
	return nil
}

// HasGSIBase reports whether an I/O APIC starts at line base.
//
//go:nosplit
func HasGSIBase(base uint32) bool {
	for i := 0; i < nioapics; i++ {
		if ioapics[i].gsiBase == base {
			return true
		}
	}
	return false
}

// RouteGSI sends line gsi to vector vec on the CPU with LAPIC ID dest,
// masked until UnmaskGSI. It reports false if no I/O APIC has the line.
//
//go:nosplit
func RouteGSI(gsi uint32, vec uint8, dest uint32, level, activeLow bool) bool {
	a := findIOAPIC(gsi)
	if a == nil {
		return false
	}
	lo := uint32(vec) | 1<<16 // fixed delivery, physical destination, masked
	if activeLow {
		lo |= 1 << 13
	}
	if level {
		lo |= 1 << 15
	}
	n := gsi - a.gsiBase
	a.write(0x11+2*n, dest<<24)
	a.write(0x10+2*n, lo)
	return true
}

// MaskGSI masks or unmasks line gsi.
//
//go:nosplit
func MaskGSI(gsi uint32, masked bool) {
	a := findIOAPIC(gsi)
	if a == nil {
		return
	}
	n := gsi - a.gsiBase
	lo := a.read(0x10 + 2*n)
	if masked {
		lo |= 1 << 16
	} else {
		lo &^= 1 << 16
	}
	a.write(0x10+2*n, lo)
}
