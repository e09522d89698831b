package virtio

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/stardust-go/stardust/kernel/drivers/pci"
	"github.com/stardust-go/stardust/kernel/drivers/pci/pcitest"
)

// fakeDev is the transport-independent half of a simulated virtio 1.x
// device: status, features, configuration space, queues and interrupt
// status. A fakeModel (block device, entropy source) serves the chains
// the driver queues; a front end (fakePCIBar, fakeMMIOFront) exposes the
// state through one transport's registers.
//
// The device works asynchronously, like real hardware: a notify only
// kicks a worker goroutine, which takes every available chain, serves
// them (in a shuffled order when shuffle is set, so completions come back
// out of order), returns them on the used ring and raises the interrupt.
type fakeDev struct {
	t          testing.TB
	mem        *fakeMem
	id         uint32
	features   uint64
	maxQueue   uint16
	model      fakeModel
	shuffle    *rand.Rand // guarded by mu
	notifyMul  uint32     // PCI notify_off_multiplier
	notifyOffs []uint16   // PCI queue_notify_off per queue (nil: the queue index)
	legacy     bool       // behind a legacy (version 1) MMIO window

	mu          sync.Mutex
	config      []byte
	generation  uint8
	status      uint8
	devSel      uint32
	drvSel      uint32
	driverF     uint64
	sel         uint16
	queues      []fakeQueue
	isr         uint8
	configVec   uint16
	refuseVecs  bool // MSI-X vectors read back as NO_VECTOR
	resetLag    int  // status reads that still show the old value after a reset
	resets      int
	pageSize    uint32 // legacy MMIO
	irqCount    int
	irq         func()
	errs        []string // protocol violations the device saw
	paused      bool     // worker leaves chains on the ring
	kick, stopc chan struct{}
}

// fakeQueue is one queue's device-side state.
type fakeQueue struct {
	devQueue
	enabled   bool
	vector    uint16
	notifyOff uint16
	notifies  int
}

// fakeModel is the device type's behaviour.
type fakeModel interface {
	// serve handles one chain taken from queue q and returns how many
	// bytes it wrote into the chain's device-writable buffers.
	serve(d *fakeDev, q int, c chain) uint32
}

// fakeHolder is implemented by models that keep some queues' chains
// until they have something to put in them (a NIC's receive buffers).
type fakeHolder interface {
	holds(q int) bool
}

// deliver fills the next chain of queue q with data and interrupts; it
// reports false when the driver has posted none.
func (d *fakeDev) deliver(q int, data []byte) bool {
	d.mu.Lock()
	c, ok := d.queues[q].pop(d.mem)
	if !ok {
		d.mu.Unlock()
		return false
	}
	n := 0
	for _, b := range c.bufs {
		n += copy(d.mem.slice(b.Phys, int(b.Len)), data[n:])
	}
	d.queues[q].push(d.mem, c.head, uint32(n))
	d.mu.Unlock()
	d.interrupt(InterruptUsedBuffer)
	return true
}

func newFakeDev(t testing.TB, mem *fakeMem, id uint32, features uint64, queues int, model fakeModel) *fakeDev {
	d := &fakeDev{t: t, mem: mem, id: id, features: features | 1<<FeatureVersion1, maxQueue: 256,
		model: model, notifyMul: pcitest.VirtioNotifyMult,
		queues: make([]fakeQueue, queues), configVec: NoVector,
		kick: make(chan struct{}, 1), stopc: make(chan struct{})}
	d.resetQueuesLocked()
	go d.worker()
	t.Cleanup(func() { close(d.stopc) })
	return d
}

func (d *fakeDev) resetQueuesLocked() {
	for i := range d.queues {
		d.queues[i] = fakeQueue{vector: NoVector, notifyOff: uint16(i)}
		if d.notifyOffs != nil {
			d.queues[i].notifyOff = d.notifyOffs[i]
		}
	}
}

// violation records a protocol error by the driver; tests check none
// happened.
func (d *fakeDev) violation(format string, args ...any) {
	d.errs = append(d.errs, fmt.Sprintf(format, args...))
}

func (d *fakeDev) checkClean(t testing.TB) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.errs {
		t.Errorf("device saw: %s", e)
	}
}

// setStatusLocked implements the status register: 0 resets, FEATURES_OK
// is refused for features never offered (§3.1.1 step 5).
func (d *fakeDev) setStatusLocked(v uint8) {
	if v == 0 {
		d.status, d.driverF, d.isr, d.configVec = 0, 0, 0, NoVector
		d.resetQueuesLocked()
		d.resets++
		return
	}
	if v&StatusFeaturesOK != 0 && d.driverF&^d.features != 0 {
		v &^= StatusFeaturesOK
	}
	if v&StatusDriverOK != 0 && d.status&StatusDriverOK == 0 {
		if !d.legacy && d.driverF&(1<<FeatureVersion1) == 0 {
			d.violation("DRIVER_OK without VERSION_1")
		}
	}
	d.status = v
}

func (d *fakeDev) readStatusLocked() uint8 {
	if d.resetLag > 0 && d.status == 0 {
		d.resetLag--
		return StatusDriverOK // still resetting
	}
	return d.status
}

// notifyQueue is a driver's notification of queue q.
func (d *fakeDev) notifyQueue(q int) {
	d.mu.Lock()
	if q < 0 || q >= len(d.queues) || !d.queues[q].enabled {
		d.violation("notify of queue %d, which is not enabled", q)
		d.mu.Unlock()
		return
	}
	d.queues[q].notifies++
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *fakeDev) worker() {
	for {
		select {
		case <-d.kick:
		case <-d.stopc:
			return
		}
		d.process()
	}
}

type fakeWork struct {
	q int
	c chain
}

// process serves every available chain of every enabled queue.
func (d *fakeDev) process() {
	d.mu.Lock()
	if d.paused || d.status&StatusDriverOK == 0 {
		d.mu.Unlock()
		return
	}
	var work []fakeWork
	for q := range d.queues {
		fq := &d.queues[q]
		if h, ok := d.model.(fakeHolder); ok && h.holds(q) {
			continue // the model takes these chains itself
		}
		for fq.enabled {
			c, ok := fq.pop(d.mem)
			if !ok {
				break
			}
			work = append(work, fakeWork{q, c})
		}
	}
	if d.shuffle != nil {
		d.shuffle.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })
	}
	d.mu.Unlock()
	if len(work) == 0 {
		return
	}
	for _, w := range work {
		n := d.model.serve(d, w.q, w.c)
		d.mu.Lock()
		d.queues[w.q].push(d.mem, w.c.head, n)
		d.mu.Unlock()
	}
	d.interrupt(InterruptUsedBuffer)
}

// interrupt sets ISR bits and calls the interrupt hook.
func (d *fakeDev) interrupt(bits uint8) {
	d.mu.Lock()
	d.isr |= bits
	d.irqCount++
	irq := d.irq
	d.mu.Unlock()
	if irq != nil {
		irq()
	}
}

// resume lets a paused device serve its queues again.
func (d *fakeDev) setPaused(p bool) {
	d.mu.Lock()
	d.paused = p
	d.mu.Unlock()
	if !p {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// setConfig replaces the device configuration, bumping the generation
// like a device whose configuration changed (§2.5.1).
func (d *fakeDev) setConfig(b []byte) {
	d.mu.Lock()
	d.config = append([]byte(nil), b...)
	d.generation++
	d.mu.Unlock()
}

func (d *fakeDev) configRead(off uint32, n int) uint32 {
	var v uint32
	for i := 0; i < n; i++ {
		if int(off)+i < len(d.config) {
			v |= uint32(d.config[int(off)+i]) << (8 * i)
		}
	}
	return v
}

// bytesOf returns the buffers of a chain with the given direction.
func (d *fakeDev) bytesOf(b Buffer) []byte { return d.mem.slice(b.Phys, int(b.Len)) }

// --- PCI front end -------------------------------------------------------

// fakePCIBar is BAR 4 of a simulated virtio PCI function, laid out as
// QEMU does (pcitest.Virtio*Off). It checks that every common-config
// field is accessed at its own width (§4.1.3.1).
type fakePCIBar struct{ d *fakeDev }

// commonWidth is the access width of each common-config field.
var commonWidth = map[uint32]int{
	0x00: 4, 0x04: 4, 0x08: 4, 0x0c: 4, 0x10: 2, 0x12: 2, 0x14: 1, 0x15: 1,
	0x16: 2, 0x18: 2, 0x1a: 2, 0x1c: 2, 0x1e: 2,
	0x20: 4, 0x24: 4, 0x28: 4, 0x2c: 4, 0x30: 4, 0x34: 4,
}

func (b *fakePCIBar) Read8(off uint32) uint8   { return uint8(b.read(off, 1)) }
func (b *fakePCIBar) Read16(off uint32) uint16 { return uint16(b.read(off, 2)) }
func (b *fakePCIBar) Read32(off uint32) uint32 { return b.read(off, 4) }
func (b *fakePCIBar) Write8(off uint32, v uint8) {
	b.write(off, uint32(v), 1)
}
func (b *fakePCIBar) Write16(off uint32, v uint16) { b.write(off, uint32(v), 2) }
func (b *fakePCIBar) Write32(off uint32, v uint32) { b.write(off, v, 4) }

func (b *fakePCIBar) read(off uint32, n int) uint32 {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case off < pcitest.VirtioISROff:
		if commonWidth[off] != n {
			d.violation("common config %#x read with width %d", off, n)
		}
		return d.commonReadLocked(off)
	case off == pcitest.VirtioISROff:
		// Reading the ISR clears it (§4.1.4.5).
		v := d.isr
		d.isr = 0
		return uint32(v)
	case off >= pcitest.VirtioDeviceOff && off < pcitest.VirtioNotifyOff:
		return d.configRead(off-pcitest.VirtioDeviceOff, n)
	}
	d.violation("read of %d bytes at BAR offset %#x", n, off)
	return 0
}

func (d *fakeDev) commonReadLocked(off uint32) uint32 {
	q := &fakeQueue{}
	if int(d.sel) < len(d.queues) {
		q = &d.queues[d.sel]
	}
	switch off {
	case commonDeviceFeature:
		if d.devSel > 1 {
			return 0
		}
		return uint32(d.features >> (32 * d.devSel))
	case commonDriverFeature:
		return uint32(d.driverF >> (32 * (d.drvSel & 1)))
	case commonConfigMSIXVector:
		return uint32(d.configVec)
	case commonNumQueues:
		return uint32(len(d.queues))
	case commonDeviceStatus:
		return uint32(d.readStatusLocked())
	case commonConfigGeneration:
		return uint32(d.generation)
	case commonQueueSelect:
		return uint32(d.sel)
	case commonQueueSize:
		if int(d.sel) >= len(d.queues) {
			return 0
		}
		if q.size == 0 {
			return uint32(d.maxQueue)
		}
		return uint32(q.size)
	case commonQueueMSIXVector:
		return uint32(q.vector)
	case commonQueueEnable:
		if q.enabled {
			return 1
		}
		return 0
	case commonQueueNotifyOff:
		return uint32(q.notifyOff)
	}
	return 0
}

func (b *fakePCIBar) write(off, v uint32, n int) {
	d := b.d
	if off >= pcitest.VirtioNotifyOff && off < pcitest.VirtioNotifyOff+0x1000 {
		b.notify(off-pcitest.VirtioNotifyOff, v, n)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= pcitest.VirtioISROff {
		d.violation("write to BAR offset %#x", off)
		return
	}
	if commonWidth[off] != n {
		d.violation("common config %#x written with width %d", off, n)
	}
	q := &fakeQueue{}
	if int(d.sel) < len(d.queues) {
		q = &d.queues[d.sel]
	}
	setHalf := func(p *uint64, hi bool) {
		if hi {
			*p = *p&0xffffffff | uint64(v)<<32
		} else {
			*p = *p&^0xffffffff | uint64(v)
		}
	}
	if q.enabled && off >= commonQueueSize && off != commonQueueEnable && off < 0x38 && off != commonQueueMSIXVector {
		d.violation("queue %d field %#x changed while enabled", d.sel, off)
	}
	switch off {
	case commonDeviceFeatureSel:
		d.devSel = v
	case commonDriverFeatureSel:
		d.drvSel = v
	case commonDriverFeature:
		if d.drvSel <= 1 {
			d.driverF = d.driverF&^(0xffffffff<<(32*d.drvSel)) | uint64(v)<<(32*d.drvSel)
		}
	case commonConfigMSIXVector:
		if !d.refuseVecs {
			d.configVec = uint16(v)
		}
	case commonDeviceStatus:
		d.setStatusLocked(uint8(v))
	case commonQueueSelect:
		d.sel = uint16(v)
	case commonQueueSize:
		if v == 0 || v > uint32(d.maxQueue) || v&(v-1) != 0 {
			d.violation("queue size %d", v)
		}
		q.size = uint16(v)
	case commonQueueMSIXVector:
		if !d.refuseVecs {
			q.vector = uint16(v)
		}
	case commonQueueEnable:
		if v != 1 {
			d.violation("queue_enable written with %d", v)
		}
		if q.size == 0 {
			q.size = d.maxQueue
		}
		if d.status&StatusFeaturesOK == 0 {
			d.violation("queue %d enabled before FEATURES_OK", d.sel)
		}
		q.enabled = true
		q.ready = true
	case commonQueueDesc, commonQueueDesc + 4:
		setHalf(&q.desc, off&4 != 0)
	case commonQueueDriver, commonQueueDriver + 4:
		setHalf(&q.avail, off&4 != 0)
	case commonQueueDevice, commonQueueDevice + 4:
		setHalf(&q.used, off&4 != 0)
	}
}

// notify decodes a write to the notify structure: the queue whose
// queue_notify_off × multiplier is the offset, and the value written must
// be that queue's index (§4.1.5.2).
func (b *fakePCIBar) notify(off, v uint32, n int) {
	d := b.d
	d.mu.Lock()
	q := -1
	for i := range d.queues {
		if uint32(d.queues[i].notifyOff)*d.notifyMul == off && int(v) == i {
			q = i
		}
	}
	if n != 2 || q < 0 {
		d.violation("notify write of %d bytes, value %d at %#x", n, v, off)
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	d.notifyQueue(q)
}

// newFakePCI places dev at 00:03.0 of a simulated machine, scans it and
// returns the pci.Device and a MapBAR serving BAR 4 from the device.
func newFakePCI(t testing.TB, d *fakeDev, transitional uint16) (*pci.Device, *pcitest.Function, MapBAR) {
	s := pcitest.NewSpace()
	f := pcitest.VirtioFunction(uint16(d.id), transitional, 0xff, 0, 2, 0xfe000000)
	if d.notifyMul != pcitest.VirtioNotifyMult {
		// Rebuild the notify capability with the other multiplier
		// by giving a function its own list.
		f = pcitest.NewFunction(pci.VendorVirtio, 0x1040+uint16(d.id), 0xff, 0, 0, 1)
		f.BAR(pcitest.VirtioBAR, pci.BARMemory64, 0xfe000000, pcitest.VirtioBARSize, true)
		f.AddVirtioCap(pcitest.VirtioCapCommon, 4, pcitest.VirtioCommonOff, 0x1000, 0)
		f.AddVirtioCap(pcitest.VirtioCapISR, 4, pcitest.VirtioISROff, 0x1000, 0)
		f.AddVirtioCap(pcitest.VirtioCapDevice, 4, pcitest.VirtioDeviceOff, 0x1000, 0)
		f.AddVirtioCap(pcitest.VirtioCapNotify, 4, pcitest.VirtioNotifyOff, 0x1000, d.notifyMul)
	}
	s.Add(pci.Address{Device: 3}, f)
	devs := pci.Scan(s)
	if len(devs) != 1 {
		t.Fatalf("scan found %d functions", len(devs))
	}
	bar := &fakePCIBar{d}
	return devs[0], f, func(i int) (PCIRegisters, error) {
		if i != pcitest.VirtioBAR {
			return nil, fmt.Errorf("no BAR %d", i)
		}
		return bar, nil
	}
}

// --- MMIO front end ------------------------------------------------------

// fakeMMIOFront exposes a fakeDev as a virtio-mmio register window,
// version 2 (modern) or 1 (legacy).
type fakeMMIOFront struct {
	d       *fakeDev
	version uint32
}

func (m *fakeMMIOFront) Read8(off uint32) uint8   { return uint8(m.readCfg(off, 1)) }
func (m *fakeMMIOFront) Read16(off uint32) uint16 { return uint16(m.readCfg(off, 2)) }

func (m *fakeMMIOFront) readCfg(off uint32, n int) uint32 {
	d := m.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < mmioConfig {
		d.violation("%d-byte read of register %#x", n, off)
		return 0
	}
	return d.configRead(off-mmioConfig, n)
}

func (m *fakeMMIOFront) Read32(off uint32) uint32 {
	if off >= mmioConfig {
		return m.readCfg(off, 4)
	}
	d := m.d
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &fakeQueue{}
	if int(d.sel) < len(d.queues) {
		q = &d.queues[d.sel]
	}
	switch off {
	case mmioMagic:
		return mmioMagicValue
	case mmioVersion:
		return m.version
	case mmioDeviceID:
		return d.id
	case mmioVendorID:
		return 0x554d4551
	case mmioDeviceFeatures:
		f := d.features
		if m.version == 1 {
			f &^= 1 << FeatureVersion1
		}
		if d.devSel > 1 {
			return 0
		}
		return uint32(f >> (32 * d.devSel))
	case mmioQueueNumMax:
		if int(d.sel) >= len(d.queues) {
			return 0
		}
		return uint32(d.maxQueue)
	case mmioQueueReady:
		if q.enabled {
			return 1
		}
		return 0
	case mmioInterruptStatus:
		return uint32(d.isr)
	case mmioStatus:
		return uint32(d.readStatusLocked())
	case mmioConfigGeneration:
		return uint32(d.generation)
	}
	return 0
}

func (m *fakeMMIOFront) Write32(off uint32, v uint32) {
	d := m.d
	if off == mmioQueueNotify {
		d.notifyQueue(int(v))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &fakeQueue{}
	if int(d.sel) < len(d.queues) {
		q = &d.queues[d.sel]
	}
	switch off {
	case mmioDeviceFeatSel:
		d.devSel = v
	case mmioDriverFeatSel:
		d.drvSel = v
	case mmioDriverFeatures:
		if d.drvSel <= 1 {
			d.driverF = d.driverF&^(0xffffffff<<(32*d.drvSel)) | uint64(v)<<(32*d.drvSel)
		}
	case mmioStatus:
		d.setStatusLocked(uint8(v))
	case mmioQueueSel:
		d.sel = uint16(v)
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
		q.enabled, q.ready = v == 1, v == 1
	case mmioGuestPageSize:
		d.pageSize = v
	case mmioQueuePFN:
		q.desc = uint64(v) * uint64(d.pageSize)
		q.avail = q.desc + 16*uint64(q.size)
		q.used = (q.avail + 6 + 2*uint64(q.size) + 4095) &^ 4095
		q.enabled, q.ready = true, true
	case mmioInterruptACK:
		d.isr &^= uint8(v)
	}
}

// --- harness -------------------------------------------------------------

// irqPump turns the device's interrupts into HandleInterrupt calls from
// one goroutine, the way the kernel's IRQ goroutine does.
func irqPump(t testing.TB, d *fakeDev, handle func()) {
	ch := make(chan struct{}, 1)
	stop := make(chan struct{})
	d.mu.Lock()
	d.irq = func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ch:
				handle()
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

var le = binary.LittleEndian
