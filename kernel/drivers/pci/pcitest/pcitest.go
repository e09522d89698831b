// Package pcitest simulates PCI configuration space for host tests: a
// set of functions with the register semantics the scanner and drivers
// depend on (read-only identity, BARs that report their size through the
// all-ones probe, a writable command register, capability lists, MSI-X
// control bits, absent functions reading as all ones). Q35 builds the
// machine QEMU's q35 presents with virtio devices attached.
//
// Execution context: host tests only.
package pcitest

import (
	"encoding/binary"
	"sync"

	"github.com/stardust-go/stardust/kernel/drivers/pci"
)

// Space is a simulated configuration space; it implements
// pci.ConfigSpace.
type Space struct {
	mu  sync.Mutex
	fns map[pci.Address]*Function
}

// NewSpace returns an empty configuration space (every read all ones).
func NewSpace() *Space { return &Space{fns: map[pci.Address]*Function{}} }

// Add places f at a.
func (s *Space) Add(a pci.Address, f *Function) *Function {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns[a] = f
	return f
}

// Function returns the function at a, or nil.
func (s *Space) Function(a pci.Address) *Function {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fns[a]
}

// Read32 implements pci.ConfigSpace.
func (s *Space) Read32(bus, dev, fn uint8, off uint16) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[pci.Address{Bus: bus, Device: dev, Function: fn}]
	if f == nil || off&3 != 0 || int(off) >= len(f.cfg) {
		return 0xffffffff
	}
	return binary.LittleEndian.Uint32(f.cfg[off:])
}

// Write32 implements pci.ConfigSpace.
func (s *Space) Write32(bus, dev, fn uint8, off uint16, v uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[pci.Address{Bus: bus, Device: dev, Function: fn}]
	if f == nil || off&3 != 0 || int(off) >= len(f.cfg) {
		return
	}
	f.write(off, v)
}

// Function is one simulated function's configuration space.
type Function struct {
	cfg     [256]byte
	bars    [6]barModel
	nbars   int
	lastCap uint16 // next free config offset for AddCap
	msix    uint16 // offset of the MSI-X capability, 0 if none

	// SizedWhileDecoding records a BAR all-ones probe while the
	// command register had decoding on (PCI §6.2.5.1 says not to).
	SizedWhileDecoding bool
}

type barModel struct {
	kind     pci.BARKind
	size     uint64
	prefetch bool
	upper    bool // the upper half of a 64-bit BAR
}

func (f *Function) put8(off uint16, v uint8)   { f.cfg[off] = v }
func (f *Function) put16(off uint16, v uint16) { binary.LittleEndian.PutUint16(f.cfg[off:], v) }
func (f *Function) put32(off uint16, v uint32) { binary.LittleEndian.PutUint32(f.cfg[off:], v) }
func (f *Function) get16(off uint16) uint16    { return binary.LittleEndian.Uint16(f.cfg[off:]) }
func (f *Function) get32(off uint16) uint32    { return binary.LittleEndian.Uint32(f.cfg[off:]) }

// NewFunction returns a type 0 (endpoint) function.
func NewFunction(vendor, device uint16, class, subclass, progIF, revision uint8) *Function {
	f := &Function{nbars: 6, lastCap: 0x40}
	f.put16(0x00, vendor)
	f.put16(0x02, device)
	f.cfg[0x08], f.cfg[0x09], f.cfg[0x0a], f.cfg[0x0b] = revision, progIF, subclass, class
	return f
}

// NewBridge returns a type 1 PCI-to-PCI bridge (or PCIe root port) whose
// buses firmware numbered primary → secondary..subordinate.
func NewBridge(vendor, device uint16, primary, secondary, subordinate uint8) *Function {
	f := NewFunction(vendor, device, pci.ClassBridge, pci.SubclassPCIBridge, 0, 0)
	f.nbars = 2
	f.cfg[0x0e] = 1
	f.cfg[0x18], f.cfg[0x19], f.cfg[0x1a] = primary, secondary, subordinate
	return f
}

// Multifunction sets header-type bit 7 (functions 1..7 exist).
func (f *Function) Multifunction() *Function { f.cfg[0x0e] |= 0x80; return f }

// Subsystem sets the subsystem vendor and ID (type 0 only).
func (f *Function) Subsystem(vendor, id uint16) *Function {
	f.put16(0x2c, vendor)
	f.put16(0x2e, id)
	return f
}

// Interrupt sets the interrupt pin (1 = INTA#) and the line firmware
// wrote.
func (f *Function) Interrupt(pin, line uint8) *Function {
	f.cfg[0x3d], f.cfg[0x3c] = pin, line
	return f
}

// BAR gives register i a decoder of size bytes (a power of two) that
// firmware placed at addr. A 64-bit BAR also takes register i+1.
func (f *Function) BAR(i int, kind pci.BARKind, addr, size uint64, prefetch bool) *Function {
	f.bars[i] = barModel{kind: kind, size: size, prefetch: prefetch}
	if kind == pci.BARMemory64 {
		f.bars[i+1] = barModel{kind: kind, size: size, upper: true}
		f.writeBAR(i+1, uint32(addr>>32))
	}
	f.writeBAR(i, uint32(addr))
	return f
}

// writeBAR stores v the way hardware does: address bits below the size
// are hard-wired to zero and the low type bits are read-only.
func (f *Function) writeBAR(i int, v uint32) {
	b := f.bars[i]
	off := uint16(0x10 + 4*i)
	switch {
	case b.size == 0:
		f.put32(off, 0)
	case b.upper:
		f.put32(off, v&^uint32((b.size-1)>>32))
	case b.kind == pci.BARIO:
		f.put32(off, v&^uint32(b.size-1)&^3|1)
	default:
		low := uint32(0)
		if b.kind == pci.BARMemory64 {
			low |= 2 << 1
		}
		if b.prefetch {
			low |= 1 << 3
		}
		f.put32(off, v&^uint32(b.size-1)&^0xf|low)
	}
}

// AddCap appends a capability with the given ID and body (the bytes after
// the ID and next-pointer) at the next free offset and links it at the
// head of the list, as QEMU does. It returns the capability's offset.
func (f *Function) AddCap(id uint8, body []byte) uint16 {
	off := f.lastCap
	f.cfg[off] = id
	f.cfg[off+1] = f.cfg[0x34]
	copy(f.cfg[off+2:], body)
	f.cfg[0x34] = uint8(off)
	f.put16(0x06, f.get16(0x06)|1<<4) // status: capabilities list
	f.lastCap = (off + 2 + uint16(len(body)) + 3) &^ 3
	return off
}

// AddMSIX adds an MSI-X capability with n vectors whose table and PBA
// live in BAR bar at the given offsets.
func (f *Function) AddMSIX(n int, bar int, tableOff, pbaOff uint32) uint16 {
	body := make([]byte, 10)
	binary.LittleEndian.PutUint16(body[0:], uint16(n-1))
	binary.LittleEndian.PutUint32(body[2:], tableOff|uint32(bar))
	binary.LittleEndian.PutUint32(body[6:], pbaOff|uint32(bar))
	f.msix = f.AddCap(pci.CapMSIX, body)
	return f.msix
}

// Command returns the command register.
func (f *Function) Command() uint16 { return f.get16(0x04) }

// Config returns a copy of the 256 configuration bytes.
func (f *Function) Config() []byte { return append([]byte(nil), f.cfg[:]...) }

// write applies a configuration write with the register semantics of a
// real function; writes to read-only registers are dropped.
func (f *Function) write(off uint16, v uint32) {
	switch {
	case off == 0x04:
		// Command: I/O, memory, bus master, INTx disable are
		// writable; status bits are write-one-to-clear (none are
		// ever set here).
		f.put16(0x04, uint16(v)&(1|2|4|1<<10))
	case off >= 0x10 && off < 0x10+4*uint16(f.nbars):
		if v == 0xffffffff && f.get16(0x04)&3 != 0 {
			f.SizedWhileDecoding = true
		}
		f.writeBAR(int(off-0x10)/4, v)
	case off == 0x18 && f.cfg[0x0e]&0x7f == 1:
		f.cfg[0x18], f.cfg[0x19], f.cfg[0x1a] = uint8(v), uint8(v>>8), uint8(v>>16)
	case off == 0x3c:
		f.cfg[0x3c] = uint8(v) // interrupt line; the pin is read-only
	case f.msix != 0 && off == f.msix:
		// MSI-X Message Control: only enable and function mask.
		ctrl := f.get16(off+2)&^(3<<14) | uint16(v>>16)&(3<<14)
		f.put16(off+2, ctrl)
	}
}
