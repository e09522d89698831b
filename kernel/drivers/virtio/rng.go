package virtio

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// DeviceIDEntropy is the virtio device ID of an entropy source (§5.4.1).
const DeviceIDEntropy = 4

const (
	// rngBufSize is the most entropy asked for in one request. Small
	// requests suit rate-limited sources (QEMU's max-bytes/period).
	rngBufSize = 512
	// rngPollInterval bounds the wait for an interrupt before the used
	// ring is checked directly.
	rngPollInterval = 5 * time.Millisecond
)

// RNG is the virtio-rng driver (§5.4): one queue, "requestq", to which the
// driver gives device-writable buffers and the device returns them filled
// with random bytes. It has no feature bits and no configuration space.
type RNG struct {
	t    Transport
	rdMu sync.Mutex // one request at a time: there is one buffer
	buf  []byte
	phys uint64
	done chan uint32 // bytes the device wrote into buf

	qMu sync.Mutex // guards vq (Read adds, HandleInterrupt takes)
	vq  *Queue
}

// NewRNG initializes a virtio-rng device on transport t.
func NewRNG(t Transport, mem Memory) (*RNG, error) {
	if id := t.DeviceID(); id != DeviceIDEntropy {
		return nil, fmt.Errorf("virtio-rng: device ID %d is not an entropy source", id)
	}
	if _, err := negotiate(t, 0, 0); err != nil {
		return nil, err
	}
	max := t.MaxQueueSize(0)
	if max == 0 {
		t.SetStatus(StatusFailed)
		return nil, errors.New("virtio-rng: request queue missing")
	}
	r := &RNG{t: t, done: make(chan uint32, 1)}
	var err error
	if r.vq, err = NewQueue(mem, min(max, 2)); err != nil {
		return nil, err
	}
	if err := t.SetupQueue(0, r.vq); err != nil {
		t.SetStatus(StatusFailed)
		return nil, err
	}
	if r.buf, r.phys, err = mem.Alloc(rngBufSize, 16); err != nil {
		return nil, err
	}
	driverOK(t)
	return r, nil
}

// Read fills p with random bytes from the device and returns len(p). The
// device may return fewer bytes than a buffer holds (§5.4.6), so Read
// keeps asking until p is full; it blocks as long as the device takes.
// A device that returns a buffer with nothing in it is broken: EIO.
func (r *RNG) Read(p []byte) (int, error) {
	r.rdMu.Lock()
	defer r.rdMu.Unlock()
	for got := 0; got < len(p); {
		n := min(len(p)-got, rngBufSize)
		r.qMu.Lock()
		_, err := r.vq.Add([]Buffer{{Phys: r.phys, Len: uint32(n), Write: true}})
		notify := r.vq.NeedsNotify()
		r.qMu.Unlock()
		if err != nil {
			return got, err // cannot happen: one request at a time
		}
		if notify {
			r.t.Notify(0)
		}
		w := r.wait()
		if w == 0 || int(w) > n {
			return got, syscall.EIO
		}
		got += copy(p[got:], r.buf[:w])
	}
	return len(p), nil
}

// wait returns the byte count of the completed request, polling the used
// ring now and then in case an interrupt went missing. The poll is a
// time.AfterFunc, not a time.Timer: a Timer's chan time.Time, stored in
// an interface by package time, would link time.Time's formatting and
// time zone code (some 40 KB of text) into every image.
func (r *RNG) wait() uint32 {
	tick := make(chan struct{}, 1)
	timer := time.AfterFunc(rngPollInterval, func() {
		select {
		case tick <- struct{}{}:
		default:
		}
	})
	defer timer.Stop()
	for {
		select {
		case w := <-r.done:
			return w
		case <-tick:
			r.reap()
			timer.Reset(rngPollInterval)
		}
	}
}

// HandleInterrupt is called by the kernel, from a goroutine, after the
// device's interrupt fired; it is safe to call spuriously.
func (r *RNG) HandleInterrupt() {
	r.t.InterruptStatus()
	r.reap()
}

func (r *RNG) reap() {
	r.qMu.Lock()
	defer r.qMu.Unlock()
	for {
		_, written, ok := r.vq.Used()
		if !ok {
			return
		}
		r.done <- written // room for it: one request in flight
	}
}
