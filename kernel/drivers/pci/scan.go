package pci

// Scan enumerates every function reachable from bus 0: all 32 devices of
// the bus, functions 1..7 of multi-function devices, and, behind each
// PCI-to-PCI bridge, the secondary bus firmware assigned to it. It sizes
// every BAR and reads every capability list.
//
// Scan relies on firmware (SeaBIOS on QEMU's q35) having numbered the
// buses and assigned BAR addresses, as it does before loading the kernel;
// a bridge whose secondary bus is still 0 is reported but not followed.
// BAR sizing briefly turns decoding off, so Scan runs once at boot,
// before drivers use the devices.
func Scan(cs ConfigSpace) []*Device {
	s := scanner{cs: cs, seen: map[uint8]bool{}}
	s.bus(0, nil)
	return s.devs
}

type scanner struct {
	cs   ConfigSpace
	seen map[uint8]bool // buses already scanned: a mis-programmed bridge cannot loop us
	devs []*Device
}

func (s *scanner) bus(bus uint8, parent *Device) {
	if s.seen[bus] {
		return
	}
	s.seen[bus] = true
	for dev := uint8(0); dev < 32; dev++ {
		d := s.function(Address{bus, dev, 0}, parent)
		if d == nil {
			continue
		}
		// Header type bit 7: the device has functions besides 0
		// (PCI §6.2.1). Without it functions 1..7 must not be
		// probed: some single-function devices answer for every
		// function number.
		if s.cs.Read32(bus, dev, 0, offHeaderType&^3)>>16&0x80 != 0 {
			for fn := uint8(1); fn < 8; fn++ {
				s.function(Address{bus, dev, fn}, parent)
			}
		}
	}
}

// function reads one function's header, records it and descends into it
// if it is a bridge. It returns nil when nothing answers at a.
func (s *scanner) function(a Address, parent *Device) *Device {
	id := s.cs.Read32(a.Bus, a.Device, a.Function, offVendorID)
	if uint16(id) == 0xffff {
		return nil // master abort: no function here
	}
	d := &Device{Addr: a, cs: s.cs, Parent: parent, VendorID: uint16(id), DeviceID: uint16(id >> 16)}
	class := d.Read32(offRevision)
	d.Revision, d.ProgIF = uint8(class), uint8(class>>8)
	d.Subclass, d.Class = uint8(class>>16), uint8(class>>24)
	d.HeaderType = d.Read8(offHeaderType) & 0x7f
	d.InterruptLine = d.Read8(offInterruptLine)
	d.InterruptPin = d.Read8(offInterruptPin)
	switch d.HeaderType {
	case 0:
		d.SubsystemVendor = d.Read16(offSubsysVendor)
		d.SubsystemID = d.Read16(offSubsysID)
		d.BARs = probeBARs(d, 6)
	case 1:
		d.BARs = probeBARs(d, 2)
		d.SecondaryBus = d.Read8(offSecondaryBus)
		d.Subordinate = d.Read8(offSubordinate)
	}
	// Type 2 (CardBus) headers are recorded with their identity only.
	d.Caps = readCaps(d)
	d.MSIX = readMSIX(d)
	s.devs = append(s.devs, d)
	if d.HeaderType == 1 && d.SecondaryBus != 0 {
		s.bus(d.SecondaryBus, d)
	}
	return d
}

// Find returns the functions with the given vendor and device ID, in
// scan order.
func Find(devs []*Device, vendor, device uint16) []*Device {
	var out []*Device
	for _, d := range devs {
		if d.VendorID == vendor && d.DeviceID == device {
			out = append(out, d)
		}
	}
	return out
}
