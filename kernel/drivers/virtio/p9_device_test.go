package virtio

import (
	"math/rand"
	"sync"
	"time"

	"github.com/stardust-go/stardust/kernel/fs/p9/p9test"
)

// fake9P is a virtio-9p device behind a virtio-mmio register window, in
// the modern (version 2) or legacy (version 1) interface. Requests are
// answered by a p9test server over a host directory. With outOfOrder,
// every chain is served in its own goroutine after a random delay, so
// replies come back in a different order than requests went out.
type fake9P struct {
	mem        *fakeMem
	version    uint32
	features   uint64
	tag        string
	srv        *p9test.Server
	outOfOrder bool

	mu       sync.Mutex
	status   uint32
	devSel   uint32
	drvSel   uint32
	driverF  uint64
	queueSel uint32
	q        devQueue
	pageSize uint32
	isr      uint32
	served   int
	errs     []error
	irq      func() // called after the device raised its interrupt
}

func newFake9P(mem *fakeMem, version uint32, tag string, srv *p9test.Server) *fake9P {
	return &fake9P{mem: mem, version: version, tag: tag, srv: srv,
		features: 1<<P9FMountTag | 1<<FeatureVersion1}
}

func (d *fake9P) config() []byte {
	return append([]byte{byte(len(d.tag)), byte(len(d.tag) >> 8)}, d.tag...)
}

func (d *fake9P) Read8(off uint32) uint8 {
	if c := d.config(); off >= mmioConfig && int(off-mmioConfig) < len(c) {
		return c[off-mmioConfig]
	}
	return 0
}

func (d *fake9P) Read16(off uint32) uint16 {
	return uint16(d.Read8(off)) | uint16(d.Read8(off+1))<<8
}

func (d *fake9P) Read32(off uint32) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch off {
	case mmioMagic:
		return mmioMagicValue
	case mmioVersion:
		return d.version
	case mmioDeviceID:
		return DeviceID9P
	case mmioVendorID:
		return 0x554d4551
	case mmioDeviceFeatures:
		f := d.features
		if d.version == 1 {
			f &^= 1 << FeatureVersion1
		}
		return uint32(f >> (32 * d.devSel))
	case mmioQueueNumMax:
		if d.queueSel != 0 {
			return 0
		}
		return 128 // QEMU's virtio-9p queue size
	case mmioQueueReady:
		if d.q.ready {
			return 1
		}
		return 0
	case mmioInterruptStatus:
		return d.isr
	case mmioStatus:
		return d.status
	case mmioQueuePFN:
		return d.q.pfn
	}
	return 0
}

func (d *fake9P) Write32(off uint32, v uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &d.q
	switch off {
	case mmioDeviceFeatSel:
		d.devSel = v
	case mmioDriverFeatSel:
		d.drvSel = v
	case mmioDriverFeatures:
		d.driverF = d.driverF&^(0xffffffff<<(32*d.drvSel)) | uint64(v)<<(32*d.drvSel)
	case mmioStatus:
		if v == 0 {
			d.status, d.driverF, d.isr, d.q = 0, 0, 0, devQueue{}
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
		q.pfn = v
		q.desc = uint64(v) * uint64(d.pageSize)
		q.avail = q.desc + 16*uint64(q.size)
		q.used = (q.avail + 6 + 2*uint64(q.size) + 4095) &^ 4095
		q.ready = true
	case mmioInterruptACK:
		d.isr &^= v
	case mmioQueueNotify:
		if v == p9Queue && d.status&StatusDriverOK != 0 {
			d.processLocked()
		}
	}
}

// processLocked takes every available chain and serves it.
func (d *fake9P) processLocked() {
	for {
		c, ok := d.q.pop(d.mem)
		if !ok {
			return
		}
		if d.outOfOrder {
			delay := time.Duration(rand.Intn(2000)) * time.Microsecond
			go func() {
				time.Sleep(delay)
				d.mu.Lock()
				d.serveLocked(c)
				d.mu.Unlock()
				d.interrupt()
			}()
			continue
		}
		d.serveLocked(c)
		// Interrupt from another goroutine, as a real device does
		// asynchronously; the driver may be holding its own locks.
		go d.interrupt()
	}
}

// serveLocked runs one chain: device-readable buffers hold the request,
// device-writable ones receive the reply.
func (d *fake9P) serveLocked(c chain) {
	var req []byte
	var in []Buffer
	for _, b := range c.bufs {
		if b.Write {
			in = append(in, b)
		} else if len(in) > 0 {
			d.errs = append(d.errs, errOrder)
		} else {
			req = append(req, d.mem.slice(b.Phys, int(b.Len))...)
		}
	}
	resp, err := d.srv.Handle(req)
	if err != nil {
		// QEMU would mark the device broken; record it for the test.
		d.errs = append(d.errs, err)
		resp = nil
	}
	written := 0
	for _, b := range in {
		n := copy(d.mem.slice(b.Phys, int(b.Len)), resp[written:])
		written += n
	}
	if written < len(resp) {
		d.errs = append(d.errs, errNoRoom)
	}
	d.q.push(d.mem, c.head, uint32(written))
	d.isr |= InterruptUsedBuffer
	d.served++
}

func (d *fake9P) interrupt() {
	d.mu.Lock()
	irq := d.irq
	d.mu.Unlock()
	if irq != nil {
		irq()
	}
}

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

const (
	errOrder  = fakeErr("device-readable buffer after a device-writable one")
	errNoRoom = fakeErr("reply larger than the device-writable buffers")
)

func (d *fake9P) errors() []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]error(nil), d.errs...)
}
