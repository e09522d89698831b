// Package pci enumerates PCI functions through configuration space: their
// identity, BARs (with sizes), capability list, MSI-X table location and
// legacy interrupt pin, and switches on memory decoding and bus mastering
// for the drivers that claim them.
//
// References are to the PCI Local Bus Specification 3.0 ("PCI §") and,
// for the extended parts, PCI Express Base 4.0.
//
// Execution context: service context. Scanning runs in an ordinary
// goroutine and allocates. The kernel supplies the one piece of hardware
// access, ConfigSpace (port I/O at 0xCF8/0xCFC or an ECAM window); the
// package is tested on the host against a simulated QEMU q35 machine
// (package pcitest).
package pci

import "fmt"

// ConfigSpace reads and writes configuration registers. off is a byte
// offset, 4-aligned; every access is a whole 32-bit register, which is
// the one width both access mechanisms support (PCI §3.2.2.3.2 for
// 0xCF8/0xCFC, PCIe §7.2.2 for ECAM). A read of a function that does not
// exist returns all ones (PCI §6.1: the host bridge ends the master-abort
// with 0xFFFFFFFF).
type ConfigSpace interface {
	Read32(bus, dev, fn uint8, off uint16) uint32
	Write32(bus, dev, fn uint8, off uint16, v uint32)
}

// Address is a function's bus/device/function triple.
type Address struct {
	Bus, Device, Function uint8
}

func (a Address) String() string {
	return fmt.Sprintf("%02x:%02x.%x", a.Bus, a.Device, a.Function)
}

// Configuration header offsets (PCI §6.1, Figure 6-1 for type 0 and the
// PCI-to-PCI Bridge Architecture Specification 1.2 §3.2 for type 1).
const (
	offVendorID      = 0x00
	offDeviceID      = 0x02
	offCommand       = 0x04
	offStatus        = 0x06
	offRevision      = 0x08
	offProgIF        = 0x09
	offSubclass      = 0x0a
	offClass         = 0x0b
	offHeaderType    = 0x0e
	offBAR0          = 0x10
	offPrimaryBus    = 0x18 // type 1
	offSecondaryBus  = 0x19 // type 1
	offSubordinate   = 0x1a // type 1
	offSubsysVendor  = 0x2c // type 0
	offSubsysID      = 0x2e // type 0
	offCapPtr        = 0x34
	offInterruptLine = 0x3c
	offInterruptPin  = 0x3d
)

// Command register bits (PCI §6.2.2).
const (
	CommandIO          = 1 << 0  // respond to I/O space accesses
	CommandMemory      = 1 << 1  // respond to memory space accesses
	CommandBusMaster   = 1 << 2  // may issue DMA
	CommandINTxDisable = 1 << 10 // do not assert INTx#
)

// statusCapList says the capability pointer at 0x34 is valid (PCI §6.2.3).
const statusCapList = 1 << 4

// Capability IDs (PCI §6.7 and the PCI Code and ID Assignment
// Specification).
const (
	CapPowerManagement = 0x01
	CapMSI             = 0x05
	CapVendor          = 0x09 // vendor specific: virtio's structures (virtio 1.2 §4.1.4)
	CapPCIExpress      = 0x10
	CapMSIX            = 0x11
)

// Class codes the scanner cares about (PCI Code and ID Assignment §1).
const (
	ClassBridge       = 0x06
	SubclassPCIBridge = 0x04
)

// VendorVirtio is the PCI vendor ID of virtio devices (virtio 1.2 §4.1.2).
const VendorVirtio = 0x1af4

// Device is one PCI function as the scanner found it.
type Device struct {
	Addr                      Address
	VendorID, DeviceID        uint16
	Class, Subclass, ProgIF   uint8
	Revision                  uint8
	HeaderType                uint8 // 0 endpoint, 1 PCI-to-PCI bridge (bit 7 masked off)
	SubsystemVendor           uint16
	SubsystemID               uint16
	BARs                      []BAR // one entry per decoder; a 64-bit BAR is one entry
	Caps                      []Capability
	MSIX                      *MSIX   // nil when the function has no MSI-X capability
	InterruptPin              uint8   // 0 none, 1..4 = INTA#..INTD# (PCI §6.2.4)
	InterruptLine             uint8   // what firmware routed the pin to (PIC IRQ; advisory)
	SecondaryBus, Subordinate uint8   // bridges only
	Parent                    *Device // the bridge in front of the function; nil on bus 0

	cs ConfigSpace
}

func (d *Device) String() string {
	return fmt.Sprintf("%s %04x:%04x class %02x%02x%02x", d.Addr, d.VendorID, d.DeviceID, d.Class, d.Subclass, d.ProgIF)
}

// Read32 reads the 32-bit configuration register at off (4-aligned).
func (d *Device) Read32(off uint16) uint32 {
	return d.cs.Read32(d.Addr.Bus, d.Addr.Device, d.Addr.Function, off&^3)
}

// Write32 writes the 32-bit configuration register at off (4-aligned).
func (d *Device) Write32(off uint16, v uint32) {
	d.cs.Write32(d.Addr.Bus, d.Addr.Device, d.Addr.Function, off&^3, v)
}

// Read8 and Read16 extract narrower fields from the 32-bit register that
// holds them (configuration space is little-endian, PCI §6.1).
func (d *Device) Read8(off uint16) uint8 { return uint8(d.Read32(off) >> (8 * (off & 3))) }

func (d *Device) Read16(off uint16) uint16 { return uint16(d.Read32(off) >> (8 * (off & 2))) }

// Command returns the command register.
func (d *Device) Command() uint16 { return d.Read16(offCommand) }

// SetCommand writes the command register. The register shares a 32-bit
// word with the status register, whose error bits are write-one-to-clear
// (PCI §6.2.3); writing zeros to the upper half leaves them untouched,
// where a read-modify-write of the whole word would clear them.
func (d *Device) SetCommand(c uint16) { d.Write32(offCommand, uint32(c)) }

// Enable turns on memory-space decoding (so the device's memory BARs
// answer) and bus mastering (so it can DMA into guest memory, which every
// virtqueue needs), plus I/O decoding if io is true. Drivers call it once
// they own the device (PCI §6.2.2).
func (d *Device) Enable(io bool) {
	c := d.Command() | CommandMemory | CommandBusMaster
	if io {
		c |= CommandIO
	}
	d.SetCommand(c)
}

// SetINTx enables or disables the legacy interrupt pin (PCI 2.3+ command
// bit 10). Drivers that use MSI-X turn it off.
func (d *Device) SetINTx(on bool) {
	c := d.Command()
	if on {
		c &^= CommandINTxDisable
	} else {
		c |= CommandINTxDisable
	}
	d.SetCommand(c)
}

// Capability is one entry of the capability list (PCI §6.7).
type Capability struct {
	ID     uint8
	Offset uint16 // of the capability's first byte (the ID) in config space
}

// Cap returns the first capability with the given ID.
func (d *Device) Cap(id uint8) (Capability, bool) {
	for _, c := range d.Caps {
		if c.ID == id {
			return c, true
		}
	}
	return Capability{}, false
}

// BAR returns the decoder that starts at base address register index i.
func (d *Device) BAR(i int) (BAR, bool) {
	for _, b := range d.BARs {
		if b.Index == i {
			return b, true
		}
	}
	return BAR{}, false
}
