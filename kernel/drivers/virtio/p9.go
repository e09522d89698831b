package virtio

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// DeviceID9P is the virtio device ID of a 9P transport (§5.11 of virtio
// 1.2 lists it among the device types; QEMU's virtio-9p-device and
// virtio-9p-pci present it).
const DeviceID9P = 9

// P9FMountTag (VIRTIO_9P_F_MOUNT_TAG) says the configuration space holds
// the mount tag: config = tag_len le16, then tag_len bytes, no NUL.
const P9FMountTag = 0

// The device has a single virtqueue, "requests".
const p9Queue = 0

// P9Options configures NewP9.
type P9Options struct {
	// MaxMessageSize is the largest 9P message (msize) carried; default
	// 512 KiB (p9.DefaultMaxMessageSize).
	MaxMessageSize int
	// Requests is how many requests may be in flight at once; default 4.
	// Each has its own DMA buffers of MaxMessageSize in each direction,
	// so the defaults cost 4 MiB of guest memory.
	Requests int
}

// P9 is the virtio-9p driver. It implements the p9 package's Transport
// (MaxMessageSize, RoundTrip, Forget) without importing it: a 9P request
// is one descriptor chain, a device-readable buffer holding the T-message
// followed by a device-writable buffer the device writes the R-message
// into. The chain itself pairs request and reply, so tags play no part
// here, and replies may come back in any order.
type P9 struct {
	t     Transport
	tag   string
	msize int

	mu     sync.Mutex // guards vq and slotOf
	vq     *Queue
	slotOf []int // descriptor head → slot in flight

	free  chan int // slots not in flight
	slots []p9Slot
}

// p9Slot is one request's DMA memory and completion signal.
type p9Slot struct {
	out, in         []byte
	outPhys, inPhys uint64
	done            chan uint32 // bytes the device wrote into in
}

// p9PollInterval bounds how long RoundTrip waits for an interrupt before
// looking at the used ring itself, in case an interrupt was missed or
// the kernel is polling.
const p9PollInterval = 5 * time.Millisecond

// NewP9 initializes a virtio-9p device on transport t: feature
// negotiation, the mount tag, the request queue and its buffers, and
// DRIVER_OK.
func NewP9(t Transport, mem Memory, opts P9Options) (*P9, error) {
	if id := t.DeviceID(); id != DeviceID9P {
		return nil, fmt.Errorf("virtio-9p: device ID %d is not a 9P transport", id)
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 512 << 10
	}
	if opts.Requests <= 0 {
		opts.Requests = 4
	}
	f, err := negotiate(t, 1<<P9FMountTag, 0)
	if err != nil {
		return nil, err
	}
	p := &P9{t: t, msize: opts.MaxMessageSize}
	if f&(1<<P9FMountTag) != 0 {
		l := readConfigStable(t, 0, 2)
		p.tag = string(readConfigStable(t, 2, int(l[0])|int(l[1])<<8))
	}

	// Two descriptors per request; the queue size must be a power of
	// two no larger than the device allows.
	size := 2
	for size < 2*opts.Requests {
		size *= 2
	}
	max := t.MaxQueueSize(p9Queue)
	if max == 0 {
		t.SetStatus(StatusFailed)
		return nil, errors.New("virtio-9p: request queue missing")
	}
	for size > max {
		size /= 2
	}
	opts.Requests = min(opts.Requests, size/2)
	if p.vq, err = NewQueue(mem, size); err != nil {
		return nil, err
	}
	if err := t.SetupQueue(p9Queue, p.vq); err != nil {
		t.SetStatus(StatusFailed)
		return nil, err
	}
	p.slotOf = make([]int, size)

	// One allocation for every slot's buffers: out then in, each msize.
	buf, phys, err := mem.Alloc(2*opts.Requests*p.msize, 4096)
	if err != nil {
		t.SetStatus(StatusFailed)
		return nil, err
	}
	p.free = make(chan int, opts.Requests)
	for i := range opts.Requests {
		o := 2 * i * p.msize
		p.slots = append(p.slots, p9Slot{
			out: buf[o : o+p.msize], outPhys: phys + uint64(o),
			in: buf[o+p.msize : o+2*p.msize], inPhys: phys + uint64(o+p.msize),
			done: make(chan uint32, 1),
		})
		p.free <- i
	}
	driverOK(t)
	return p, nil
}

// MountTag is the tag the host gave the share (QEMU's mount_tag=), by
// which the kernel matches devices to guest mount points.
func (p *P9) MountTag() string { return p.tag }

// MaxMessageSize implements p9.Transport.
func (p *P9) MaxMessageSize() int { return p.msize }

// Forget implements p9.Transport. Nothing to do: the device returns every
// chain, flushed or not (a flushed request's chain comes back with
// whatever reply the device managed, or none), and RoundTrip waits for it
// so the slot is never reused while the device may still write into it.
func (p *P9) Forget(tag uint16) {}

// RoundTrip implements p9.Transport: it copies req into a free slot,
// queues the chain, waits for the device to return it and copies the
// reply into resp.
func (p *P9) RoundTrip(req, resp []byte) (int, error) {
	if len(req) > p.msize {
		return 0, fmt.Errorf("virtio-9p: request of %d bytes exceeds msize %d", len(req), p.msize)
	}
	i := <-p.free
	defer func() { p.free <- i }()
	s := &p.slots[i]
	copy(s.out, req)
	inLen := min(len(resp), p.msize)
	chain := []Buffer{
		{Phys: s.outPhys, Len: uint32(len(req))},
		{Phys: s.inPhys, Len: uint32(inLen), Write: true},
	}
	p.mu.Lock()
	head, err := p.vq.Add(chain)
	if err != nil {
		p.mu.Unlock()
		return 0, err // cannot happen: a slot implies two free descriptors
	}
	p.slotOf[head] = i
	notify := p.vq.NeedsNotify()
	p.mu.Unlock()
	if notify {
		p.t.Notify(p9Queue)
	}

	timer := time.NewTimer(p9PollInterval)
	defer timer.Stop()
	for {
		select {
		case n := <-s.done:
			if int(n) > inLen {
				return 0, fmt.Errorf("virtio-9p: device wrote %d bytes into a %d-byte buffer", n, inLen)
			}
			return copy(resp, s.in[:n]), nil
		case <-timer.C:
			p.reap()
			timer.Reset(p9PollInterval)
		}
	}
}

// HandleInterrupt is called by the kernel, from a goroutine, after the
// device's interrupt fired (it is safe to call spuriously). It
// acknowledges the interrupt, then completes the returned requests; work
// that arrives in between raises a new interrupt.
func (p *P9) HandleInterrupt() {
	p.t.InterruptStatus()
	p.reap()
}

// reap hands every chain on the used ring to the RoundTrip waiting for
// it.
func (p *P9) reap() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		head, written, ok := p.vq.Used()
		if !ok {
			return
		}
		// done has room: exactly one chain per slot is in flight.
		p.slots[p.slotOf[head]].done <- written
	}
}
