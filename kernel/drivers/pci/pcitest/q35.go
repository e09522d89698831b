package pcitest

import (
	"encoding/binary"

	"github.com/stardust-go/stardust/kernel/drivers/pci"
)

// Where QEMU's virtio-pci puts the modern structures: all four in one
// 64-bit prefetchable memory BAR (BAR 4, 16 KiB), one page each, with a
// notify_off_multiplier of 4 (queue q is notified at 0x3000 + 4q).
const (
	VirtioBAR        = 4
	VirtioBARSize    = 0x4000
	VirtioCommonOff  = 0x0000
	VirtioISROff     = 0x1000
	VirtioDeviceOff  = 0x2000
	VirtioNotifyOff  = 0x3000
	VirtioNotifyMult = 4
)

// virtio_pci_cap cfg_type values (virtio 1.2 §4.1.4).
const (
	VirtioCapCommon = 1
	VirtioCapNotify = 2
	VirtioCapISR    = 3
	VirtioCapDevice = 4
	VirtioCapPCICfg = 5
)

// AddVirtioCap adds one virtio vendor capability (struct virtio_pci_cap,
// virtio 1.2 §4.1.4): cfg_type, bar, id, offset, length, and for the
// notify structure the notify_off_multiplier after it (§4.1.4.4).
func (f *Function) AddVirtioCap(cfgType, bar uint8, off, length, notifyMult uint32) uint16 {
	n := 14 // cap_len 16 minus the ID and next bytes
	if cfgType == VirtioCapNotify || cfgType == VirtioCapPCICfg {
		n += 4 // notify_off_multiplier, or pci_cfg_data
	}
	body := make([]byte, n)
	body[0] = uint8(n + 2) // cap_len
	body[1] = cfgType
	body[2] = bar
	binary.LittleEndian.PutUint32(body[6:], off)
	binary.LittleEndian.PutUint32(body[10:], length)
	if cfgType == VirtioCapNotify {
		binary.LittleEndian.PutUint32(body[14:], notifyMult)
	}
	return f.AddCap(pci.CapVendor, body)
}

// VirtioFunction builds a virtio PCI function the way QEMU does: vendor
// 0x1af4, a 4 KiB MSI-X BAR 1, the modern structures in BAR 4 at the
// Virtio*Off offsets, and the capabilities at 0x40 (common), 0x50 (ISR),
// 0x60 (device), 0x70 (notify), 0x84 (PCI cfg access), 0x98 (MSI-X).
//
// A modern-only device (disable-legacy=on) has PCI device ID 0x1040 +
// virtioID and revision 1; a transitional one has the legacy ID
// (0x1000 + n, from virtio 1.2 §4.1.2.3), revision 0, the virtio ID as
// subsystem ID and the legacy registers in an I/O BAR 0. bar4 is the
// bus address firmware gave BAR 4.
func VirtioFunction(virtioID uint16, transitionalID uint16, class, subclass uint8, vectors int, bar4 uint64) *Function {
	dev, rev := 0x1040+virtioID, uint8(1)
	if transitionalID != 0 {
		dev, rev = transitionalID, 0
	}
	f := NewFunction(pci.VendorVirtio, dev, class, subclass, 0, rev)
	f.Subsystem(0x1af4, virtioID)
	if transitionalID != 0 {
		f.BAR(0, pci.BARIO, 0xc000+uint64(virtioID)*0x40, 0x40, false)
	}
	f.BAR(1, pci.BARMemory32, 0xfeb00000+uint64(virtioID)*0x1000, 0x1000, false)
	f.BAR(VirtioBAR, pci.BARMemory64, bar4, VirtioBARSize, true)
	f.Interrupt(1, 11)
	f.AddVirtioCap(VirtioCapCommon, VirtioBAR, VirtioCommonOff, 0x1000, 0)
	f.AddVirtioCap(VirtioCapISR, VirtioBAR, VirtioISROff, 0x1000, 0)
	f.AddVirtioCap(VirtioCapDevice, VirtioBAR, VirtioDeviceOff, 0x1000, 0)
	f.AddVirtioCap(VirtioCapNotify, VirtioBAR, VirtioNotifyOff, 0x1000, VirtioNotifyMult)
	f.AddVirtioCap(VirtioCapPCICfg, 0, 0, 0, 0)
	f.AddMSIX(vectors, 1, 0, 0x800)
	return f
}

// Bus addresses of the Q35 machine's virtio BAR 4s.
const (
	Q35NetBAR4  = 0xfe000000
	Q35BlkBAR4  = 0xfe004000
	Q35RngBAR4  = 0xfe008000
	Q35Blk2BAR4 = 0xfe20_0000
)

// Q35 returns the configuration space of
//
//	qemu-system-x86_64 -machine q35 -vga none \
//	  -device virtio-net-pci,disable-legacy=on,addr=03 \
//	  -device virtio-blk-pci,disable-legacy=on,addr=04 \
//	  -device virtio-rng-pci,addr=05 \
//	  -device pcie-root-port,id=rp,addr=06,chassis=1 \
//	  -device virtio-blk-pci,bus=rp
//
// after SeaBIOS assigned buses and BARs: the MCH host bridge at 00:00.0,
// modern virtio-net (1af4:1041) at 00:03.0, modern virtio-blk (1af4:1042)
// at 00:04.0, a transitional virtio-rng (1af4:1005) at 00:05.0, a PCIe
// root port (1b36:000c) at 00:06.0 with a modern virtio-blk on bus 1,
// and the ICH9 LPC, SATA and SMBus functions at 00:1f.0/.2/.3.
func Q35() *Space {
	s := NewSpace()
	s.Add(at(0, 0, 0), NewFunction(0x8086, 0x29c0, 0x06, 0x00, 0, 2).Subsystem(0x1af4, 0x1100))
	s.Add(at(0, 3, 0), VirtioFunction(1, 0, 0x02, 0x00, 3, Q35NetBAR4))
	s.Add(at(0, 4, 0), VirtioFunction(2, 0, 0x01, 0x00, 2, Q35BlkBAR4).Interrupt(1, 10))
	s.Add(at(0, 5, 0), VirtioFunction(4, 0x1005, 0xff, 0x00, 2, Q35RngBAR4).Interrupt(1, 10))
	rp := NewBridge(0x1b36, 0x000c, 0, 1, 1).Interrupt(1, 10)
	rp.AddCap(pci.CapPCIExpress, make([]byte, 58))
	s.Add(at(0, 6, 0), rp)
	s.Add(at(1, 0, 0), VirtioFunction(2, 0, 0x01, 0x00, 2, Q35Blk2BAR4))

	s.Add(at(0, 0x1f, 0), NewFunction(0x8086, 0x2918, 0x06, 0x01, 0, 2).Subsystem(0x1af4, 0x1100).Multifunction())
	sata := NewFunction(0x8086, 0x2922, 0x01, 0x06, 0x01, 2).Subsystem(0x1af4, 0x1100).Interrupt(1, 10)
	sata.BAR(4, pci.BARIO, 0xd040, 0x20, false)
	sata.BAR(5, pci.BARMemory32, 0xfeb10000, 0x1000, false)
	sata.AddCap(pci.CapMSI, make([]byte, 14))
	s.Add(at(0, 0x1f, 2), sata)
	smbus := NewFunction(0x8086, 0x2930, 0x0c, 0x05, 0, 2).Subsystem(0x1af4, 0x1100).Interrupt(1, 10)
	smbus.BAR(4, pci.BARIO, 0x0700, 0x40, false)
	s.Add(at(0, 0x1f, 3), smbus)
	return s
}

func at(bus, dev, fn uint8) pci.Address { return pci.Address{Bus: bus, Device: dev, Function: fn} }
