package virtio

import (
	"errors"
	"fmt"
)

// Registers is access to one virtio-mmio device's register window. The
// kernel implements it with uncached loads and stores at the device's
// physical address; tests implement it with a simulated device.
// Offsets are from the start of the window.
type Registers interface {
	Read8(off uint32) uint8
	Read16(off uint32) uint16
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
}

// virtio-mmio register offsets (§4.2.2). The legacy-only ones are from
// §4.2.4.
const (
	mmioMagic            = 0x000
	mmioVersion          = 0x004
	mmioDeviceID         = 0x008
	mmioVendorID         = 0x00c
	mmioDeviceFeatures   = 0x010
	mmioDeviceFeatSel    = 0x014
	mmioDriverFeatures   = 0x020
	mmioDriverFeatSel    = 0x024
	mmioGuestPageSize    = 0x028 // legacy
	mmioQueueSel         = 0x030
	mmioQueueNumMax      = 0x034
	mmioQueueNum         = 0x038
	mmioQueueAlign       = 0x03c // legacy
	mmioQueuePFN         = 0x040 // legacy
	mmioQueueReady       = 0x044
	mmioQueueNotify      = 0x050
	mmioInterruptStatus  = 0x060
	mmioInterruptACK     = 0x064
	mmioStatus           = 0x070
	mmioQueueDescLow     = 0x080
	mmioQueueDescHigh    = 0x084
	mmioQueueDriverLow   = 0x090
	mmioQueueDriverHigh  = 0x094
	mmioQueueDeviceLow   = 0x0a0
	mmioQueueDeviceHigh  = 0x0a4
	mmioConfigGeneration = 0x0fc
	mmioConfig           = 0x100

	mmioMagicValue = 0x74726976 // "virt" little-endian
)

// MMIO is the virtio-mmio transport, for QEMU's microvm machine and
// Firecracker. It speaks both the modern interface (version 2) and the
// legacy one (version 1), which QEMU's microvm presents unless started
// with -global virtio-mmio.force-legacy=false.
type MMIO struct {
	r       Registers
	version uint32
}

var _ Transport = (*MMIO)(nil)

// NewMMIO probes the register window. It fails for a window without a
// virtio device (bad magic) or with device ID 0 (an empty slot, which
// microvm has many of).
func NewMMIO(r Registers) (*MMIO, error) {
	if r.Read32(mmioMagic) != mmioMagicValue {
		return nil, errors.New("virtio-mmio: bad magic value")
	}
	v := r.Read32(mmioVersion)
	if v != 1 && v != 2 {
		return nil, fmt.Errorf("virtio-mmio: unsupported version %d", v)
	}
	if r.Read32(mmioDeviceID) == 0 {
		return nil, errors.New("virtio-mmio: no device in this slot")
	}
	return &MMIO{r: r, version: v}, nil
}

func (m *MMIO) Legacy() bool     { return m.version == 1 }
func (m *MMIO) DeviceID() uint32 { return m.r.Read32(mmioDeviceID) }

// DeviceFeatures reads the feature bits 32 at a time through the selector.
// A legacy device has only the first 32.
func (m *MMIO) DeviceFeatures() uint64 {
	m.r.Write32(mmioDeviceFeatSel, 0)
	f := uint64(m.r.Read32(mmioDeviceFeatures))
	if !m.Legacy() {
		m.r.Write32(mmioDeviceFeatSel, 1)
		f |= uint64(m.r.Read32(mmioDeviceFeatures)) << 32
	}
	return f
}

func (m *MMIO) SetDriverFeatures(f uint64) {
	m.r.Write32(mmioDriverFeatSel, 0)
	m.r.Write32(mmioDriverFeatures, uint32(f))
	if !m.Legacy() {
		m.r.Write32(mmioDriverFeatSel, 1)
		m.r.Write32(mmioDriverFeatures, uint32(f>>32))
	}
}

func (m *MMIO) Status() uint8     { return uint8(m.r.Read32(mmioStatus)) }
func (m *MMIO) SetStatus(s uint8) { m.r.Write32(mmioStatus, uint32(s)) }

func (m *MMIO) ReadConfig8(off int) uint8 { return m.r.Read8(mmioConfig + uint32(off)) }
func (m *MMIO) ReadConfig16(off int) uint16 {
	return m.r.Read16(mmioConfig + uint32(off))
}
func (m *MMIO) ReadConfig32(off int) uint32 {
	return m.r.Read32(mmioConfig + uint32(off))
}

// ConfigGeneration: legacy devices have no generation counter; 0 makes
// readConfigStable read once.
func (m *MMIO) ConfigGeneration() uint32 {
	if m.Legacy() {
		return 0
	}
	return m.r.Read32(mmioConfigGeneration)
}

func (m *MMIO) MaxQueueSize(q int) int {
	m.r.Write32(mmioQueueSel, uint32(q))
	if !m.Legacy() && m.r.Read32(mmioQueueReady) != 0 {
		return 0 // already in use
	}
	return int(m.r.Read32(mmioQueueNumMax))
}

// SetupQueue programs the queue. Modern: three 64-bit ring addresses, then
// QueueReady. Legacy: the page size, the used-ring alignment and the page
// frame number of the whole contiguous queue (which is why Queue is laid
// out the legacy way).
func (m *MMIO) SetupQueue(q int, vq *Queue) error {
	m.r.Write32(mmioQueueSel, uint32(q))
	max := int(m.r.Read32(mmioQueueNumMax))
	if max == 0 || vq.Size() > max {
		return fmt.Errorf("virtio-mmio: queue %d holds at most %d entries", q, max)
	}
	m.r.Write32(mmioQueueNum, uint32(vq.Size()))
	desc, avail, used := vq.Addresses()
	if m.Legacy() {
		if desc%legacyAlign != 0 || desc>>12 > 0xffffffff {
			return errors.New("virtio-mmio: legacy queue must be page aligned below 16 TiB")
		}
		m.r.Write32(mmioGuestPageSize, legacyAlign)
		m.r.Write32(mmioQueueAlign, legacyAlign)
		m.r.Write32(mmioQueuePFN, uint32(desc/legacyAlign))
		return nil
	}
	m.r.Write32(mmioQueueDescLow, uint32(desc))
	m.r.Write32(mmioQueueDescHigh, uint32(desc>>32))
	m.r.Write32(mmioQueueDriverLow, uint32(avail))
	m.r.Write32(mmioQueueDriverHigh, uint32(avail>>32))
	m.r.Write32(mmioQueueDeviceLow, uint32(used))
	m.r.Write32(mmioQueueDeviceHigh, uint32(used>>32))
	m.r.Write32(mmioQueueReady, 1)
	return nil
}

func (m *MMIO) Notify(q int) { m.r.Write32(mmioQueueNotify, uint32(q)) }

// InterruptStatus reads the causes and acknowledges exactly those, so a
// cause raised in between is not lost.
func (m *MMIO) InterruptStatus() uint32 {
	s := m.r.Read32(mmioInterruptStatus)
	if s != 0 {
		m.r.Write32(mmioInterruptACK, s)
	}
	return s
}
