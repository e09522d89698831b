package virtio

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// fakeMem is guest memory for tests: a bump allocator handing out slices
// with made-up physical addresses, and the reverse mapping the simulated
// device uses for "DMA".
type fakeMem struct {
	mu    sync.Mutex
	next  uint64
	areas []fakeArea
}

type fakeArea struct {
	phys uint64
	buf  []byte
}

func newFakeMem() *fakeMem { return &fakeMem{next: 0x10_0000} }

func (m *fakeMem) Alloc(size, align int) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next = (m.next + uint64(align) - 1) &^ (uint64(align) - 1)
	// Allocate with 8 extra bytes of alignment slack so atomic word
	// accesses at 4-aligned offsets are 4-aligned in host memory too.
	raw := make([]byte, size+8)
	off := int((8 - uintptr(unsafe.Pointer(&raw[0]))%8) % 8)
	a := fakeArea{phys: m.next, buf: raw[off : off+size]}
	m.areas = append(m.areas, a)
	m.next += uint64(size)
	return a.buf, a.phys, nil
}

// slice returns the n bytes at guest-physical address phys.
func (m *fakeMem) slice(phys uint64, n int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.areas {
		if phys >= a.phys && phys+uint64(n) <= a.phys+uint64(len(a.buf)) {
			o := int(phys - a.phys)
			return a.buf[o : o+n]
		}
	}
	panic(fmt.Sprintf("fakeMem: DMA to unmapped %#x+%d", phys, n))
}

func (m *fakeMem) word(phys uint64) *uint32 {
	return (*uint32)(unsafe.Pointer(&m.slice(phys, 4)[0]))
}

// devQueue is the device's view of one virtqueue.
type devQueue struct {
	size                 uint16
	desc, avail, used    uint64
	ready                bool
	lastAvail, usedIdx   uint16
	descLo, descHi, avLo uint32
	avHi, usLo, usHi     uint32
	pfn                  uint32
}

// chain is one descriptor chain popped from the available ring.
type chain struct {
	head uint16
	bufs []Buffer
}

// pop takes the next available chain, or returns false.
func (q *devQueue) pop(m *fakeMem) (chain, bool) {
	idx := uint16(atomic.LoadUint32(m.word(q.avail)) >> 16)
	if idx == q.lastAvail {
		return chain{}, false
	}
	slot := q.lastAvail % q.size
	head := binary.LittleEndian.Uint16(m.slice(q.avail+4+2*uint64(slot), 2))
	q.lastAvail++
	c := chain{head: head}
	for i := head; ; {
		d := m.slice(q.desc+16*uint64(i), 16)
		flags := binary.LittleEndian.Uint16(d[12:])
		c.bufs = append(c.bufs, Buffer{
			Phys:  binary.LittleEndian.Uint64(d),
			Len:   binary.LittleEndian.Uint32(d[8:]),
			Write: flags&descFWrite != 0,
		})
		if flags&descFNext == 0 {
			break
		}
		i = binary.LittleEndian.Uint16(d[14:])
	}
	return c, true
}

// push returns a chain to the driver with written bytes.
func (q *devQueue) push(m *fakeMem, head uint16, written uint32) {
	slot := q.usedIdx % q.size
	e := m.slice(q.used+4+8*uint64(slot), 8)
	binary.LittleEndian.PutUint32(e, uint32(head))
	binary.LittleEndian.PutUint32(e[4:], written)
	q.usedIdx++
	atomic.StoreUint32(m.word(q.used), uint32(q.usedIdx)<<16)
}

// fakeNet is a virtio-net device behind a virtio-mmio register window.
// Frames the driver sends are recorded in sent; inject delivers a frame
// into the next posted receive buffer. Interrupts are counted and reported
// through irq.
type fakeNet struct {
	mem      *fakeMem
	version  uint32
	features uint64
	mac      [6]byte

	mu       sync.Mutex
	status   uint32
	devSel   uint32
	drvSel   uint32
	driverF  uint64
	queueSel uint32
	queues   [2]devQueue
	isr      uint32
	pageSize uint32
	txPaused bool
	sent     [][]byte // frames the driver transmitted (header stripped)
	sentHdrs [][]byte
	notifies [2]int
	irq      func()
}

func newFakeNet(mem *fakeMem, version uint32, features uint64) *fakeNet {
	d := &fakeNet{mem: mem, version: version, features: features, mac: [6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}}
	for i := range d.queues {
		d.queues[i].size = 0
	}
	return d
}

func (d *fakeNet) hdrLen() int {
	if d.version == 1 {
		return 10
	}
	return 12
}

func (d *fakeNet) Read8(off uint32) uint8 {
	if off >= mmioConfig && off < mmioConfig+6 {
		return d.mac[off-mmioConfig]
	}
	return 0
}

func (d *fakeNet) Read16(off uint32) uint16 {
	return uint16(d.Read8(off)) | uint16(d.Read8(off+1))<<8
}

func (d *fakeNet) Read32(off uint32) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &d.queues[d.queueSel%2]
	switch off {
	case mmioMagic:
		return mmioMagicValue
	case mmioVersion:
		return d.version
	case mmioDeviceID:
		return DeviceIDNet
	case mmioVendorID:
		return 0x554d4551
	case mmioDeviceFeatures:
		return uint32(d.features >> (32 * d.devSel))
	case mmioQueueNumMax:
		if d.queueSel > 1 {
			return 0
		}
		return 1024
	case mmioQueueReady:
		if q.ready {
			return 1
		}
		return 0
	case mmioInterruptStatus:
		return d.isr
	case mmioStatus:
		return d.status
	case mmioConfigGeneration:
		return 0
	case mmioQueuePFN:
		return q.pfn
	}
	return 0
}

func (d *fakeNet) Write32(off uint32, v uint32) {
	d.mu.Lock()
	q := &d.queues[d.queueSel%2]
	switch off {
	case mmioDeviceFeatSel:
		d.devSel = v
	case mmioDriverFeatSel:
		d.drvSel = v
	case mmioDriverFeatures:
		d.driverF = d.driverF&^(0xffffffff<<(32*d.drvSel)) | uint64(v)<<(32*d.drvSel)
	case mmioStatus:
		if v == 0 {
			d.status, d.driverF, d.isr = 0, 0, 0
			d.queues = [2]devQueue{}
		} else if v&StatusFeaturesOK != 0 && d.driverF&^d.features != 0 {
			v &^= StatusFeaturesOK // refuse features we never offered
		}
		d.status = v
	case mmioQueueSel:
		d.queueSel = v
	case mmioQueueNum:
		q.size = uint16(v)
	case mmioQueueDescLow:
		q.descLo = v
	case mmioQueueDescHigh:
		q.descHi = v
	case mmioQueueDriverLow:
		q.avLo = v
	case mmioQueueDriverHigh:
		q.avHi = v
	case mmioQueueDeviceLow:
		q.usLo = v
	case mmioQueueDeviceHigh:
		q.usHi = v
	case mmioQueueReady:
		q.desc = uint64(q.descHi)<<32 | uint64(q.descLo)
		q.avail = uint64(q.avHi)<<32 | uint64(q.avLo)
		q.used = uint64(q.usHi)<<32 | uint64(q.usLo)
		q.ready = v == 1
	case mmioGuestPageSize:
		d.pageSize = v
	case mmioQueuePFN:
		// Legacy layout: desc, avail right after, used at the next
		// QueueAlign (4096) boundary.
		q.pfn = v
		q.desc = uint64(v) * uint64(d.pageSize)
		q.avail = q.desc + 16*uint64(q.size)
		q.used = (q.avail + 6 + 2*uint64(q.size) + 4095) &^ 4095
		q.ready = true
	case mmioInterruptACK:
		d.isr &^= v
	case mmioQueueNotify:
		d.notifies[v%2]++
		if v == netTxQueue && !d.txPaused {
			d.processTxLocked()
		}
	}
	irq := d.irq
	raise := d.isr != 0
	d.mu.Unlock()
	if off == mmioQueueNotify && raise && irq != nil {
		irq()
	}
}

// processTxLocked consumes every available transmit chain.
func (d *fakeNet) processTxLocked() {
	q := &d.queues[netTxQueue]
	for {
		c, ok := q.pop(d.mem)
		if !ok {
			return
		}
		var data []byte
		for _, b := range c.bufs {
			data = append(data, d.mem.slice(b.Phys, int(b.Len))...)
		}
		h := d.hdrLen()
		d.sentHdrs = append(d.sentHdrs, data[:h])
		d.sent = append(d.sent, data[h:])
		q.push(d.mem, c.head, 0)
		// Like a real device, honour the driver's NO_INTERRUPT hint: a
		// driver that suppresses transmit interrupts must still make
		// progress (it reclaims on its next transmit, or asks for an
		// interrupt before it waits).
		if atomic.LoadUint32(d.mem.word(q.avail))&availFNoInterrupt == 0 {
			d.isr |= InterruptUsedBuffer
		}
	}
}

// resumeTx lets the device consume transmit buffers again and interrupts.
func (d *fakeNet) resumeTx() {
	d.mu.Lock()
	d.txPaused = false
	d.processTxLocked()
	irq := d.irq
	raise := d.isr != 0
	d.mu.Unlock()
	if irq != nil && raise {
		irq()
	}
}

// inject writes hdr+frame into the next receive buffer and interrupts. It
// reports false when the driver has no buffer posted.
func (d *fakeNet) inject(hdr, frame []byte) bool {
	d.mu.Lock()
	q := &d.queues[netRxQueue]
	c, ok := q.pop(d.mem)
	if !ok {
		d.mu.Unlock()
		return false
	}
	data := append(append([]byte(nil), hdr...), frame...)
	n := 0
	for _, b := range c.bufs {
		if !b.Write {
			panic("receive buffer not device-writable")
		}
		n += copy(d.mem.slice(b.Phys, int(b.Len)), data[n:])
	}
	q.push(d.mem, c.head, uint32(n))
	d.isr |= InterruptUsedBuffer
	irq := d.irq
	d.mu.Unlock()
	if irq != nil {
		irq()
	}
	return true
}

func (d *fakeNet) sentFrames() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][]byte(nil), d.sent...)
}
