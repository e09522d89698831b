package pci

// RootINTx follows a function's interrupt pin up through the bridges in
// front of it to the root bus and returns the slot and pin (1 = INTA#)
// that carry it there; pin 0 means the function uses no INTx.
//
// Each PCI-to-PCI bridge (and PCIe root or switch port) maps the pin of a
// device behind it by the fixed "swizzle" of the PCI-to-PCI Bridge
// Architecture Specification 1.2 §9.1: pin' = ((pin-1 + device) mod 4)+1,
// then the bridge's own slot carries it upward.
func (d *Device) RootINTx() (slot, pin uint8) {
	pin = d.InterruptPin
	if pin == 0 || pin > 4 {
		return 0, 0
	}
	slot = d.Addr.Device
	for b := d.Parent; b != nil; b = b.Parent {
		pin = (pin-1+slot)%4 + 1
		slot = b.Addr.Device
	}
	return slot, pin
}

// Q35GSI returns the I/O APIC input (global system interrupt) a function
// on QEMU's q35 machine raises through its INTx pin, so the kernel can
// route it without an AML interpreter. It transcribes the _PRT that QEMU
// generates for q35's root bus in APIC mode: the ICH9's PIRQ A..H lines
// are GSIs 16..23; slots 0..0x18 and 0x1e start at PIRQE and rotate
// through E..H by slot and pin, slots 0x19..0x1d and 0x1f start at PIRQA
// and rotate through A..D. ok is false when the function has no pin.
//
// The interrupt-line register SeaBIOS fills in names a legacy PIC IRQ
// and is of no use with the I/O APIC.
func Q35GSI(d *Device) (gsi uint32, ok bool) {
	slot, pin := d.RootINTx()
	if pin == 0 {
		return 0, false
	}
	var base, head uint32 // PIRQ index of the first line, and rotation start
	switch {
	case slot < 0x18:
		base, head = 4, uint32(slot)&3
	case slot == 0x18 || slot == 0x1e:
		base, head = 4, 0
	default:
		base, head = 0, 0
	}
	pirq := base + (head+uint32(pin)-1)%4
	return 16 + pirq, true
}
