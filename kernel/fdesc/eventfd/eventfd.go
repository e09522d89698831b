// Package eventfd implements eventfd2(2): a 64-bit counter as a file
// description. Go's runtime uses one to wake its netpoller out of
// epoll_pwait (netpollBreak writes 1; the poller reads it back).
//
// Execution context: service context. Methods run in ordinary goroutines,
// may allocate and may block; the package is tested on the host.
package eventfd

import (
	"encoding/binary"
	"math"
	"sync"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// Flags of eventfd2.
const (
	EFD_SEMAPHORE = 0x1
	EFD_CLOEXEC   = syscall.O_CLOEXEC // the caller's (fd flag)
	EFD_NONBLOCK  = syscall.O_NONBLOCK
)

// maxCount is the largest value the counter holds: writes that would pass
// it block (or fail with EAGAIN), as on Linux.
const maxCount = math.MaxUint64 - 1

// EventFD is an eventfd description.
type EventFD struct {
	mu        sync.Mutex
	count     uint64
	semaphore bool
	flags     int
	// changed is closed and replaced whenever count changes, waking
	// blocked readers and writers (a broadcast without sync.Cond, so a
	// waiter can also select on other things).
	changed  chan struct{}
	watchers map[uint64]func()
	nextW    uint64
	ino      uint64
}

var (
	_ fdesc.Description = (*EventFD)(nil)
	_ fdesc.Pollable    = (*EventFD)(nil)
)

var (
	inoMu   sync.Mutex
	nextIno uint64
)

// New implements eventfd2(initval, flags). Unknown flags are EINVAL.
func New(initval uint32, flags int) (*EventFD, error) {
	if flags&^(EFD_SEMAPHORE|EFD_CLOEXEC|EFD_NONBLOCK) != 0 {
		return nil, syscall.EINVAL
	}
	inoMu.Lock()
	nextIno++
	ino := nextIno
	inoMu.Unlock()
	return &EventFD{
		count:     uint64(initval),
		semaphore: flags&EFD_SEMAPHORE != 0,
		flags:     syscall.O_RDWR | flags&EFD_NONBLOCK,
		changed:   make(chan struct{}),
		watchers:  make(map[uint64]func()),
		ino:       ino,
	}, nil
}

// Read returns the counter (and zeroes it) or, with EFD_SEMAPHORE, returns
// 1 and decrements it. It blocks while the counter is 0.
func (e *EventFD) Read(p []byte) (int, error) {
	if len(p) < 8 {
		return 0, syscall.EINVAL
	}
	e.mu.Lock()
	for e.count == 0 {
		if e.flags&syscall.O_NONBLOCK != 0 {
			e.mu.Unlock()
			return 0, syscall.EAGAIN
		}
		ch := e.changed
		e.mu.Unlock()
		<-ch
		e.mu.Lock()
	}
	v := e.count
	if e.semaphore {
		v = 1
	}
	e.count -= v
	fns := e.changedLocked()
	e.mu.Unlock()
	notify(fns)
	binary.LittleEndian.PutUint64(p, v)
	return 8, nil
}

// Write adds the 8-byte value in p to the counter, blocking while that
// would exceed maxCount. Writing 2^64-1 is EINVAL.
func (e *EventFD) Write(p []byte) (int, error) {
	if len(p) < 8 {
		return 0, syscall.EINVAL
	}
	v := binary.LittleEndian.Uint64(p)
	if v == math.MaxUint64 {
		return 0, syscall.EINVAL
	}
	e.mu.Lock()
	for maxCount-e.count < v {
		if e.flags&syscall.O_NONBLOCK != 0 {
			e.mu.Unlock()
			return 0, syscall.EAGAIN
		}
		ch := e.changed
		e.mu.Unlock()
		<-ch
		e.mu.Lock()
	}
	if v == 0 {
		e.mu.Unlock()
		return 8, nil
	}
	e.count += v
	fns := e.changedLocked()
	e.mu.Unlock()
	notify(fns)
	return 8, nil
}

// changedLocked wakes blocked callers and returns the Watch callbacks to
// run once the lock is dropped (a callback may call Readiness).
func (e *EventFD) changedLocked() []func() {
	close(e.changed)
	e.changed = make(chan struct{})
	fns := make([]func(), 0, len(e.watchers))
	for _, fn := range e.watchers {
		fns = append(fns, fn)
	}
	return fns
}

func notify(fns []func()) {
	for _, fn := range fns {
		fn()
	}
}

// Readiness implements fdesc.Pollable: readable while the counter is not
// zero, writable while at least 1 can be added.
func (e *EventFD) Readiness() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var r uint32
	if e.count > 0 {
		r |= fdesc.PollIn
	}
	if e.count < maxCount {
		r |= fdesc.PollOut
	}
	return r
}

// Watch implements fdesc.Pollable.
func (e *EventFD) Watch(fn func()) (cancel func()) {
	e.mu.Lock()
	id := e.nextW
	e.nextW++
	e.watchers[id] = fn
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		delete(e.watchers, id)
		e.mu.Unlock()
	}
}

// Close implements fdesc.Description.
func (e *EventFD) Close() error { return nil }

// Stat implements fdesc.Description. Linux shows an anonymous inode.
func (e *EventFD) Stat(st *syscall.Stat_t) error {
	*st = syscall.Stat_t{Mode: 0o600, Ino: e.ino, Nlink: 1, Blksize: 4096}
	return nil
}

// Flags implements fdesc.Description.
func (e *EventFD) Flags() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flags
}

// SetFlags implements fdesc.Description; only O_NONBLOCK can change.
func (e *EventFD) SetFlags(flags int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flags = e.flags&^syscall.O_NONBLOCK | flags&syscall.O_NONBLOCK
	return nil
}
