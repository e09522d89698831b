package virtio

import (
	"errors"
	"fmt"
	"time"

	"github.com/stardust-go/stardust/kernel/drivers/pci"
)

// PCIRegisters is access to one mapped BAR of a virtio PCI function:
// uncached loads and stores for a memory BAR, IN/OUT instructions for an
// I/O BAR. Offsets are from the start of the BAR. It extends Registers
// with the 8- and 16-bit writes the common configuration needs: each
// field must be accessed at its own width (virtio 1.2 §4.1.3.1), so a
// 32-bit write cannot stand in for the one-byte device_status.
type PCIRegisters interface {
	Registers
	Write8(off uint32, v uint8)
	Write16(off uint32, v uint16)
}

// MapBAR maps BAR bar of the function (the kernel knows its address and
// size from pci.Device.BARs) and returns access to it.
type MapBAR func(bar int) (PCIRegisters, error)

// virtio_pci_cap cfg_type values (§4.1.4).
const (
	pciCapCommon = 1
	pciCapNotify = 2
	pciCapISR    = 3
	pciCapDevice = 4
)

// Layout of struct virtio_pci_cap after the ID and next bytes (§4.1.4).
const (
	pciCapLen        = 2
	pciCapType       = 3
	pciCapBAR        = 4
	pciCapOffset     = 8
	pciCapLength     = 12
	pciCapNotifyMult = 16 // virtio_pci_notify_cap only (§4.1.4.4)
)

// struct virtio_pci_common_cfg (§4.1.4.3). 64-bit fields are written as
// two 32-bit halves, which §4.1.3.1 allows.
const (
	commonDeviceFeatureSel = 0x00
	commonDeviceFeature    = 0x04
	commonDriverFeatureSel = 0x08
	commonDriverFeature    = 0x0c
	commonConfigMSIXVector = 0x10
	commonNumQueues        = 0x12
	commonDeviceStatus     = 0x14
	commonConfigGeneration = 0x15
	commonQueueSelect      = 0x16
	commonQueueSize        = 0x18
	commonQueueMSIXVector  = 0x1a
	commonQueueEnable      = 0x1c
	commonQueueNotifyOff   = 0x1e
	commonQueueDesc        = 0x20
	commonQueueDriver      = 0x28
	commonQueueDevice      = 0x30
	commonMinLen           = 0x38 // the fields above; 1.2 adds two more we do not use
)

// NoVector (VIRTIO_MSI_NO_VECTOR) means "no MSI-X vector" (§4.1.5.1.2).
const NoVector = 0xffff

// window is one virtio structure: a range of a mapped BAR.
type window struct {
	r       PCIRegisters
	off, n  uint32
	present bool
}

// PCI is the virtio-pci transport in its modern form (§4.1): the device's
// registers are four structures (common configuration, notifications,
// ISR status, device-specific configuration) that vendor capabilities
// locate inside the function's BARs. Transitional devices (PCI device IDs
// 0x1000-0x103f, which QEMU presents by default on q35's root bus) carry
// the same capabilities and are driven the modern way too; the legacy I/O
// BAR is never touched.
type PCI struct {
	dev        *pci.Device
	id         uint32
	common     window
	notify     window
	isr        window
	device     window
	notifyMult uint32
	numQueues  int
	notifyAt   []uint32 // per queue: offset of its notify register in the notify BAR

	msix         bool
	configVector uint16
	queueVector  func(q int) uint16
	vectorsSet   bool // config vector written since the last reset
}

var _ Transport = (*PCI)(nil)

// NewPCI finds the virtio structures of function dev through its vendor
// capabilities, maps the BARs that hold them and enables memory decoding
// and bus mastering. It fails for a function that is not a virtio device
// or lacks the modern interface (a legacy-only device).
func NewPCI(dev *pci.Device, mapBAR MapBAR) (*PCI, error) {
	// §4.1.2: vendor 0x1af4 with device IDs 0x1000-0x107f. 0x1040+n
	// is modern device type n; transitional IDs below 0x1040 carry the
	// type in the subsystem device ID (§4.1.2.1).
	if dev.VendorID != pci.VendorVirtio || dev.DeviceID < 0x1000 || dev.DeviceID > 0x107f {
		return nil, fmt.Errorf("virtio-pci: %s is not a virtio device", dev)
	}
	p := &PCI{dev: dev, id: uint32(dev.DeviceID) - 0x1040}
	if dev.DeviceID < 0x1040 {
		p.id = uint32(dev.SubsystemID)
	}

	mapped := map[int]PCIRegisters{}
	usesIO := false
	for _, c := range dev.Caps {
		if c.ID != pci.CapVendor {
			continue
		}
		typ := dev.Read8(c.Offset + pciCapType)
		var w *window
		switch typ {
		case pciCapCommon:
			w = &p.common
		case pciCapNotify:
			w = &p.notify
		case pciCapISR:
			w = &p.isr
		case pciCapDevice:
			w = &p.device
		default:
			continue // PCI cfg access, shared memory, vendor data: unused
		}
		if w.present {
			continue // §4.1.4: use the first instance of each type
		}
		barIdx := int(dev.Read8(c.Offset + pciCapBAR))
		off := dev.Read32(c.Offset + pciCapOffset)
		n := dev.Read32(c.Offset + pciCapLength)
		bar, ok := dev.BAR(barIdx)
		if barIdx > 5 || !ok {
			continue // §4.1.4.1: ignore reserved BAR values
		}
		if uint64(off)+uint64(n) > bar.Size {
			return nil, fmt.Errorf("virtio-pci: %s: structure type %d overruns BAR %d", dev.Addr, typ, barIdx)
		}
		if typ == pciCapNotify {
			if dev.Read8(c.Offset+pciCapLen) < 20 {
				continue // too short to hold notify_off_multiplier
			}
			p.notifyMult = dev.Read32(c.Offset + pciCapNotifyMult)
		}
		r, ok := mapped[barIdx]
		if !ok {
			var err error
			if r, err = mapBAR(barIdx); err != nil {
				return nil, fmt.Errorf("virtio-pci: %s: mapping BAR %d: %w", dev.Addr, barIdx, err)
			}
			mapped[barIdx] = r
		}
		usesIO = usesIO || bar.Kind == pci.BARIO
		*w = window{r: r, off: off, n: n, present: true}
	}
	switch {
	case !p.common.present || !p.notify.present || !p.isr.present:
		return nil, fmt.Errorf("virtio-pci: %s has no modern interface (legacy-only device)", dev.Addr)
	case p.common.n < commonMinLen || p.notify.n < 2 || p.isr.n < 1:
		return nil, fmt.Errorf("virtio-pci: %s: virtio structures too small", dev.Addr)
	}
	dev.Enable(usesIO)
	p.numQueues = int(p.common.r.Read16(p.common.off + commonNumQueues))
	p.notifyAt = make([]uint32, p.numQueues)
	return p, nil
}

// UseMSIX makes the transport route the configuration-change interrupt to
// MSI-X vector config and queue q's interrupts to queue(q) (§4.1.5.1.2).
// Call it before the driver initializes the device (NewBlock, NewNet...);
// the kernel programs the function's MSI-X table and enables MSI-X
// (pci.Device.SetMSIX). Without it no vector is assigned and the device
// interrupts through INTx, with the ISR status saying why.
func (p *PCI) UseMSIX(config uint16, queue func(q int) uint16) {
	p.msix, p.configVector, p.queueVector = true, config, queue
}

// Accessors for common-configuration fields, each at its own width.
func (p *PCI) c8(off uint32) uint8      { return p.common.r.Read8(p.common.off + off) }
func (p *PCI) c16(off uint32) uint16    { return p.common.r.Read16(p.common.off + off) }
func (p *PCI) c32(off uint32) uint32    { return p.common.r.Read32(p.common.off + off) }
func (p *PCI) w8(off uint32, v uint8)   { p.common.r.Write8(p.common.off+off, v) }
func (p *PCI) w16(off uint32, v uint16) { p.common.r.Write16(p.common.off+off, v) }
func (p *PCI) w32(off uint32, v uint32) { p.common.r.Write32(p.common.off+off, v) }
func (p *PCI) w64(off uint32, v uint64) { p.w32(off, uint32(v)); p.w32(off+4, uint32(v>>32)) }

// Legacy is false: the legacy I/O-port interface is never used, even on
// transitional devices.
func (p *PCI) Legacy() bool             { return false }
func (p *PCI) DeviceID() uint32         { return p.id }
func (p *PCI) NumQueues() int           { return p.numQueues }
func (p *PCI) Device() *pci.Device      { return p.dev }
func (p *PCI) ConfigGeneration() uint32 { return uint32(p.c8(commonConfigGeneration)) }
func (p *PCI) Status() uint8            { return p.c8(commonDeviceStatus) }

// deviceCfgOK reports whether n bytes at off lie in the device-specific
// configuration structure.
func (p *PCI) deviceCfgOK(off, n int) bool {
	return p.device.present && off >= 0 && uint32(off+n) <= p.device.n
}

func (p *PCI) devAddr(off int) uint32 { return p.device.off + uint32(off) }

// InterruptStatus reads the ISR status byte. Reading it also clears it
// and de-asserts the INTx line (§4.1.4.5), so one read both reports and
// acknowledges. With MSI-X enabled the queue bit is never set; drivers
// look at their rings anyway.
func (p *PCI) InterruptStatus() uint32 { return uint32(p.isr.r.Read8(p.isr.off)) }

// DeviceFeatures reads the 64 feature bits, 32 at a time through the
// select register.
func (p *PCI) DeviceFeatures() uint64 {
	p.w32(commonDeviceFeatureSel, 0)
	f := uint64(p.c32(commonDeviceFeature))
	p.w32(commonDeviceFeatureSel, 1)
	return f | uint64(p.c32(commonDeviceFeature))<<32
}

func (p *PCI) SetDriverFeatures(f uint64) {
	p.w32(commonDriverFeatureSel, 0)
	p.w32(commonDriverFeature, uint32(f))
	p.w32(commonDriverFeatureSel, 1)
	p.w32(commonDriverFeature, uint32(f>>32))
}

// resetTimeout bounds the wait for a reset to finish.
const resetTimeout = time.Second

// SetStatus writes device_status. Writing 0 resets the device, and the
// reset is only complete when device_status reads back 0 (§4.1.4.3.2):
// until then the device may still be using the old queues.
func (p *PCI) SetStatus(s uint8) {
	p.w8(commonDeviceStatus, s)
	if s != 0 {
		return
	}
	p.vectorsSet = false
	deadline := time.Now().Add(resetTimeout)
	for p.Status() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Microsecond)
	}
}

// ReadConfig8/16/32 read the device-specific configuration. Reads outside
// it (or of a device without one, like virtio-rng) return 0.
func (p *PCI) ReadConfig8(off int) uint8 {
	if !p.deviceCfgOK(off, 1) {
		return 0
	}
	return p.device.r.Read8(p.devAddr(off))
}

func (p *PCI) ReadConfig16(off int) uint16 {
	if !p.deviceCfgOK(off, 2) {
		return 0
	}
	return p.device.r.Read16(p.devAddr(off))
}

func (p *PCI) ReadConfig32(off int) uint32 {
	if !p.deviceCfgOK(off, 4) {
		return 0
	}
	return p.device.r.Read32(p.devAddr(off))
}

// MaxQueueSize reads queue_size after selecting q: before set-up it holds
// the largest size the device supports (§4.1.4.3). A queue already
// enabled is in use.
func (p *PCI) MaxQueueSize(q int) int {
	if q < 0 || q >= p.numQueues {
		return 0
	}
	p.w16(commonQueueSelect, uint16(q))
	if p.c16(commonQueueEnable) != 0 {
		return 0
	}
	return int(p.c16(commonQueueSize))
}

// SetupQueue programs queue q (§4.1.5.1.3): select it, write the size
// the driver chose (it may be smaller than the maximum), the three ring
// addresses and, with MSI-X, its vector; work out where its notify
// register is; then enable it. Enabling must come last: the device reads
// the other fields when queue_enable is written.
func (p *PCI) SetupQueue(q int, vq *Queue) error {
	max := p.MaxQueueSize(q)
	if max == 0 || vq.Size() > max {
		return fmt.Errorf("virtio-pci: queue %d holds at most %d entries", q, max)
	}
	if err := p.setVectors(q); err != nil {
		return err
	}
	p.w16(commonQueueSelect, uint16(q))
	p.w16(commonQueueSize, uint16(vq.Size()))
	desc, avail, used := vq.Addresses()
	p.w64(commonQueueDesc, desc)
	p.w64(commonQueueDriver, avail)
	p.w64(commonQueueDevice, used)

	// §4.1.4.4: queue q is notified by a 16-bit write at
	// cap.offset + queue_notify_off * notify_off_multiplier of the
	// notify BAR. The product must stay inside the structure.
	at := uint64(p.c16(commonQueueNotifyOff)) * uint64(p.notifyMult)
	if at+2 > uint64(p.notify.n) {
		return fmt.Errorf("virtio-pci: queue %d notify offset %#x outside the notify structure", q, at)
	}
	p.notifyAt[q] = p.notify.off + uint32(at)
	p.w16(commonQueueEnable, 1)
	return nil
}

// setVectors assigns MSI-X vectors: the configuration vector once per
// reset, and queue q's vector (with q selected). A device that cannot map
// a vector reads back NO_VECTOR (§4.1.5.1.2), which must not go
// unnoticed: that queue would never interrupt.
func (p *PCI) setVectors(q int) error {
	if !p.msix {
		return nil
	}
	if !p.vectorsSet {
		p.w16(commonConfigMSIXVector, p.configVector)
		if p.c16(commonConfigMSIXVector) != p.configVector {
			return errors.New("virtio-pci: device refused the configuration MSI-X vector")
		}
		p.vectorsSet = true
	}
	v := p.queueVector(q)
	p.w16(commonQueueSelect, uint16(q))
	p.w16(commonQueueMSIXVector, v)
	if p.c16(commonQueueMSIXVector) != v {
		return fmt.Errorf("virtio-pci: device refused MSI-X vector %d for queue %d", v, q)
	}
	return nil
}

// Notify writes the queue index to the queue's notify register (without
// VIRTIO_F_NOTIFICATION_DATA, which we never negotiate, that is all the
// device wants, §4.1.5.2). It needs no queue_select, so it is safe to
// call concurrently with anything but SetupQueue.
func (p *PCI) Notify(q int) {
	if q < 0 || q >= len(p.notifyAt) {
		return
	}
	p.notify.r.Write16(p.notifyAt[q], uint16(q))
}
