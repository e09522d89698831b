package pci

import "fmt"

// BARKind says what a base address register decodes.
type BARKind uint8

const (
	BARMemory32 BARKind = iota + 1 // memory below 4 GiB
	BARMemory64                    // memory anywhere; occupies two registers
	BARIO                          // x86 I/O ports
)

func (k BARKind) String() string {
	switch k {
	case BARMemory32:
		return "mem32"
	case BARMemory64:
		return "mem64"
	case BARIO:
		return "io"
	}
	return "?"
}

// BAR is one address decoder of a function (PCI §6.2.5.1).
type BAR struct {
	Index        int // register index 0..5; a 64-bit BAR also uses Index+1
	Kind         BARKind
	Addr         uint64 // bus address firmware assigned (0: unassigned)
	Size         uint64 // bytes decoded, a power of two
	Prefetchable bool
}

func (b BAR) String() string {
	p := ""
	if b.Prefetchable {
		p = " prefetchable"
	}
	return fmt.Sprintf("BAR%d %s %#x size %#x%s", b.Index, b.Kind, b.Addr, b.Size, p)
}

// Low bits of a BAR (PCI §6.2.5.1).
const (
	barIOSpace     = 1 << 0
	barTypeMask    = 3 << 1
	barType64      = 2 << 1
	barPrefetch    = 1 << 3
	barMemAddrMask = ^uint32(0xf)
	barIOAddrMask  = ^uint32(0x3)
)

// probeBARs sizes the function's n base address registers (6 for a type 0
// header, 2 for a bridge) by the procedure of PCI §6.2.5.1: write all
// ones, read back which address bits stick (the device hard-wires the
// bits below its size to zero), restore the original value. Decoding is
// switched off meanwhile, because for a moment the BAR claims an address
// range that may belong to something else (the same section recommends
// this).
func probeBARs(d *Device, n int) []BAR {
	cmd := d.Command()
	d.SetCommand(cmd &^ (CommandIO | CommandMemory))
	defer d.SetCommand(cmd)

	var bars []BAR
	for i := 0; i < n; i++ {
		off := uint16(offBAR0 + 4*i)
		orig := d.Read32(off)
		d.Write32(off, 0xffffffff)
		probe := d.Read32(off)
		d.Write32(off, orig)
		if probe == 0 {
			continue // not implemented: every bit reads as zero
		}

		if orig&barIOSpace != 0 {
			mask := probe & barIOAddrMask
			// Devices decoding only 16 I/O address bits may return
			// zeros in the upper half (PCI §6.2.5.1); those bits are
			// not part of the size.
			if mask&0xffff0000 == 0 {
				mask |= 0xffff0000
			}
			bars = append(bars, BAR{Index: i, Kind: BARIO,
				Addr: uint64(orig & barIOAddrMask), Size: uint64(^mask + 1)})
			continue
		}

		b := BAR{Index: i, Kind: BARMemory32, Addr: uint64(orig & barMemAddrMask),
			Prefetchable: orig&barPrefetch != 0}
		mask := uint64(probe&barMemAddrMask) | 0xffffffff_00000000
		if orig&barTypeMask == barType64 && i+1 < n {
			// The next register holds the upper 32 address bits
			// and is sized together with this one.
			hiOff := off + 4
			hiOrig := d.Read32(hiOff)
			d.Write32(hiOff, 0xffffffff)
			hiProbe := d.Read32(hiOff)
			d.Write32(hiOff, hiOrig)
			b.Kind = BARMemory64
			b.Addr |= uint64(hiOrig) << 32
			mask = uint64(hiProbe)<<32 | uint64(probe&barMemAddrMask)
			i++
		}
		b.Size = ^mask + 1
		bars = append(bars, b)
	}
	return bars
}
