// Package acpi reads the few ACPI tables the kernel needs at boot: the
// MADT (processors and I/O APICs), found from the RSDP that the PVH boot
// information points at (ACPI 6.5, sections 5.2.5-5.2.12).
//
// Execution context: trap context (//go:nosplit, no allocation). Tables are
// read through a function that maps physical to virtual addresses.
package acpi

import "unsafe"

// MADT summarises the Multiple APIC Description Table.
type MADT struct {
	LAPICs  [64]uint8 // APIC IDs of enabled processors
	NLAPIC  int
	IOAPICs [8]IOAPIC
	NIOAPIC int
}

// IOAPIC is one I/O APIC entry.
type IOAPIC struct {
	ID      uint8
	Addr    uint32
	GSIBase uint32
}

// ReadMADT fills m from the tables reachable from the RSDP at physical
// address rsdp; p2v maps physical to virtual addresses. It reports false
// if there is no valid MADT.
//
//go:nosplit
func ReadMADT(rsdp uintptr, p2v uintptr, m *MADT) bool {
	if rsdp == 0 {
		return false
	}
	r := rsdp + p2v
	if string((*[8]byte)(unsafe.Pointer(r))[:]) != "RSD PTR " || !checksum(r, 20) {
		return false
	}
	rev := *(*uint8)(unsafe.Pointer(r + 15))
	rsdt := uintptr(*(*uint32)(unsafe.Pointer(r + 16)))
	var xsdt uintptr
	if rev >= 2 {
		xsdt = uintptr(*(*uint64)(unsafe.Pointer(r + 24)))
	}
	root, entry := rsdt, uintptr(4)
	if xsdt != 0 {
		root, entry = xsdt, 8
	}
	if root == 0 {
		return false
	}
	hdr := root + p2v
	length := uintptr(*(*uint32)(unsafe.Pointer(hdr + 4)))
	for off := uintptr(36); off+entry <= length; off += entry {
		var t uintptr
		if entry == 8 {
			t = uintptr(*(*uint64)(unsafe.Pointer(hdr + off)))
		} else {
			t = uintptr(*(*uint32)(unsafe.Pointer(hdr + off)))
		}
		tv := t + p2v
		if string((*[4]byte)(unsafe.Pointer(tv))[:]) == "APIC" {
			parseMADT(tv, m)
			return true
		}
	}
	return false
}

//go:nosplit
func parseMADT(t uintptr, m *MADT) {
	length := uintptr(*(*uint32)(unsafe.Pointer(t + 4)))
	for off := uintptr(44); off+2 <= length; {
		typ := *(*uint8)(unsafe.Pointer(t + off))
		n := uintptr(*(*uint8)(unsafe.Pointer(t + off + 1)))
		if n < 2 {
			break
		}
		e := t + off
		switch typ {
		case 0: // processor local APIC: uid, apic id, flags (bit 0 enabled)
			if *(*uint32)(unsafe.Pointer(e + 4))&1 != 0 && m.NLAPIC < len(m.LAPICs) {
				m.LAPICs[m.NLAPIC] = *(*uint8)(unsafe.Pointer(e + 3))
				m.NLAPIC++
			}
		case 1: // I/O APIC: id, reserved, address, GSI base
			if m.NIOAPIC < len(m.IOAPICs) {
				m.IOAPICs[m.NIOAPIC] = IOAPIC{
					ID:      *(*uint8)(unsafe.Pointer(e + 2)),
					Addr:    *(*uint32)(unsafe.Pointer(e + 4)),
					GSIBase: *(*uint32)(unsafe.Pointer(e + 8)),
				}
				m.NIOAPIC++
			}
		}
		off += n
	}
}

//go:nosplit
func checksum(p uintptr, n int) bool {
	var sum uint8
	for i := 0; i < n; i++ {
		sum += *(*uint8)(unsafe.Pointer(p + uintptr(i)))
	}
	return sum == 0
}
