package pci

import "errors"

// maxCaps bounds the capability walk: 48 four-byte-aligned entries fill
// the 192 bytes after the header, so a longer list must be a loop (a
// broken or hostile device).
const maxCaps = 48

// readCaps walks the capability list (PCI §6.7): the status register says
// whether there is one, 0x34 points at the first entry, and each entry is
// an ID byte followed by the offset of the next (0 ends the list). The
// bottom two bits of every pointer are reserved and masked off.
func readCaps(d *Device) []Capability {
	if d.Read16(offStatus)&statusCapList == 0 {
		return nil
	}
	var caps []Capability
	ptr := uint16(d.Read8(offCapPtr)) &^ 3
	for ptr >= 0x40 && len(caps) < maxCaps {
		caps = append(caps, Capability{ID: d.Read8(ptr), Offset: ptr})
		ptr = uint16(d.Read8(ptr+1)) &^ 3
	}
	return caps
}

// MSIX describes a function's MSI-X capability (PCI §6.8.2): how many
// vectors it has and where in which BAR the vector table and the
// pending-bit array live.
type MSIX struct {
	Cap         uint16 // config-space offset of the capability
	TableSize   int    // number of vectors
	TableBAR    int
	TableOffset uint32
	PBABAR      int
	PBAOffset   uint32
}

// MSI-X Message Control bits (PCI §6.8.2.3).
const (
	msixEnable       = 1 << 15
	msixFunctionMask = 1 << 14
	msixSizeMask     = 0x7ff
)

func readMSIX(d *Device) *MSIX {
	c, ok := d.Cap(CapMSIX)
	if !ok {
		return nil
	}
	ctrl := d.Read16(c.Offset + 2)
	table := d.Read32(c.Offset + 4)
	pba := d.Read32(c.Offset + 8)
	// The low three bits of the table and PBA words are the BAR
	// indicator (BIR), the rest a QWORD-aligned offset (PCI §6.8.2.4/5).
	return &MSIX{
		Cap:         c.Offset,
		TableSize:   int(ctrl&msixSizeMask) + 1,
		TableBAR:    int(table & 7),
		TableOffset: table &^ 7,
		PBABAR:      int(pba & 7),
		PBAOffset:   pba &^ 7,
	}
}

// SetMSIX enables or disables MSI-X for the function. With it enabled the
// function signals through its table entries and never asserts INTx (PCI
// §6.8.2.3); an entry that is still masked holds its message pending, so
// the usual order is: program the entries, then enable.
func (d *Device) SetMSIX(on bool) error {
	if d.MSIX == nil {
		return errors.New("pci: function has no MSI-X capability")
	}
	// The capability's first word is ID, next pointer (read-only) and
	// Message Control; only the enable and function-mask bits are
	// writable.
	w := d.Read32(d.MSIX.Cap)
	if on {
		w |= msixEnable << 16
	} else {
		w &^= msixEnable << 16
	}
	w &^= msixFunctionMask << 16
	d.Write32(d.MSIX.Cap, w)
	return nil
}

// MSIXEnabled reports whether MSI-X is switched on.
func (d *Device) MSIXEnabled() bool {
	return d.MSIX != nil && d.Read16(d.MSIX.Cap+2)&msixEnable != 0
}

// TableRegisters is 32-bit access to the BAR holding an MSI-X table,
// mapped uncached by the kernel; offsets are from the start of the BAR.
type TableRegisters interface {
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
}

// SetEntry programs vector i of the table with a message address and
// data, and unmasks it. Each entry is 16 bytes: address low, address
// high, data, vector control whose bit 0 masks the vector (PCI §6.8.2.6
// to §6.8.2.9). The entry is masked while it changes, so the function
// never sends a half-written message.
func (m *MSIX) SetEntry(r TableRegisters, i int, addr uint64, data uint32) error {
	if i < 0 || i >= m.TableSize {
		return errors.New("pci: MSI-X vector out of range")
	}
	e := m.TableOffset + 16*uint32(i)
	r.Write32(e+12, r.Read32(e+12)|1)
	r.Write32(e+0, uint32(addr))
	r.Write32(e+4, uint32(addr>>32))
	r.Write32(e+8, data)
	r.Write32(e+12, r.Read32(e+12)&^1)
	return nil
}

// X86MSIAddress is the message address that delivers an MSI to the local
// APIC with the given ID in physical destination mode; the message data
// is then simply the interrupt vector (fixed delivery, edge triggered).
// Intel SDM Vol. 3A §11.11.1 and §11.11.2.
func X86MSIAddress(apicID uint8) uint64 { return 0xfee00000 | uint64(apicID)<<12 }
