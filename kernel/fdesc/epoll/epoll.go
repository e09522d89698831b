// Package epoll implements Linux's epoll(7) as an open file description:
// epoll_create1 makes an Epoll, epoll_ctl calls Ctl, epoll_pwait calls
// Wait. It is built only on fdesc.Pollable (Readiness plus Watch
// callbacks), so sockets, eventfds, pipes and nested epolls all work.
//
// Execution context: service context. Methods run in ordinary goroutines,
// may allocate and may block; the package is tested on the host.
//
// # How readiness flows
//
// Each registered file has an item. The item's Watch callback ("wake")
// puts it on the ready list; Wait walks the ready list, asks each file for
// its current Readiness and reports the bits the caller asked for. What
// happens to an item after it is reported is the difference between the
// modes, and is exactly Linux's:
//
//   - level-triggered (default): it stays on the list, so the next Wait
//     asks again and reports it again while the condition holds;
//   - edge-triggered (EPOLLET): it leaves the list and is reported again
//     only after the next wake, i.e. after the file's state changed
//     (this is what Go's netpoller uses);
//   - EPOLLONESHOT: it is disabled until epoll_ctl(MOD) re-arms it.
//
// An item whose readiness turns out to be zero simply leaves the list.
// Readiness is never computed with the epoll lock held, because a file's
// Readiness may take the file's locks and the file may call wake while
// holding them; a per-item wake counter makes that race-free.
package epoll

import (
	"encoding/binary"
	"sync"
	"syscall"
	"time"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// Event bits and epoll_ctl operations (Linux values).
const (
	EPOLLIN        uint32 = 0x001
	EPOLLPRI       uint32 = 0x002
	EPOLLOUT       uint32 = 0x004
	EPOLLERR       uint32 = 0x008
	EPOLLHUP       uint32 = 0x010
	EPOLLRDHUP     uint32 = 0x2000
	EPOLLEXCLUSIVE uint32 = 1 << 28
	EPOLLWAKEUP    uint32 = 1 << 29
	EPOLLONESHOT   uint32 = 1 << 30
	EPOLLET        uint32 = 1 << 31

	EPOLL_CTL_ADD = 1
	EPOLL_CTL_DEL = 2
	EPOLL_CTL_MOD = 3

	EPOLL_CLOEXEC = syscall.O_CLOEXEC // the caller's (fd flag)
)

// alwaysReported are reported whether or not they were asked for.
const alwaysReported = EPOLLERR | EPOLLHUP

// modeBits are the flags in Event.Events that are not readiness bits.
const modeBits = EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP

// Event is struct epoll_event. On amd64 it is packed: 12 bytes.
type Event struct {
	Events uint32
	Data   uint64
}

// EventSize is the size of struct epoll_event on amd64.
const EventSize = 12

// ParseEvent decodes a struct epoll_event from guest memory.
func ParseEvent(b []byte) Event {
	return Event{Events: binary.LittleEndian.Uint32(b), Data: binary.LittleEndian.Uint64(b[4:])}
}

// PutEvents encodes evs into dst (which needs len(evs)*EventSize bytes).
func PutEvents(dst []byte, evs []Event) {
	for i, e := range evs {
		binary.LittleEndian.PutUint32(dst[i*EventSize:], e.Events)
		binary.LittleEndian.PutUint64(dst[i*EventSize+4:], e.Data)
	}
}

// key identifies a registration: Linux keys by (file, fd), so the same file
// under two descriptor numbers can be registered twice.
type key struct {
	fd   int
	file fdesc.Description
}

type item struct {
	key    key
	file   fdesc.Pollable
	events uint32 // requested bits plus mode bits
	data   uint64
	cancel func()

	// The fields below are guarded by Epoll.mu.
	inReady  bool
	disabled bool   // EPOLLONESHOT fired; MOD re-arms
	removed  bool   // DEL or Close happened
	wakes    uint64 // counts wakes, to detect one racing with Wait
}

// Epoll is an epoll instance.
type Epoll struct {
	mu      sync.Mutex
	items   map[key]*item
	ready   []*item
	changed chan struct{} // closed and replaced on every wake
	flags   int

	watchers map[uint64]func() // when this epoll is itself watched
	nextW    uint64
}

var (
	_ fdesc.Description = (*Epoll)(nil)
	_ fdesc.Pollable    = (*Epoll)(nil)
)

// New implements epoll_create1; flags may only be EPOLL_CLOEXEC, which the
// caller applies to the descriptor.
func New(flags int) (*Epoll, error) {
	if flags&^EPOLL_CLOEXEC != 0 {
		return nil, syscall.EINVAL
	}
	return &Epoll{
		items:    make(map[key]*item),
		changed:  make(chan struct{}),
		flags:    syscall.O_RDWR,
		watchers: make(map[uint64]func()),
	}, nil
}

// Ctl implements epoll_ctl(op, fd, ev) where file is what fd refers to.
// Files that are not Pollable (regular files, directories) are EPERM, as
// on Linux.
func (ep *Epoll) Ctl(op int, fd int, file fdesc.Description, ev Event) error {
	p, ok := file.(fdesc.Pollable)
	if !ok {
		return syscall.EPERM
	}
	if file == fdesc.Description(ep) {
		return syscall.EINVAL
	}
	k := key{fd, file}
	ep.mu.Lock()
	it := ep.items[k]
	switch op {
	case EPOLL_CTL_ADD:
		if it != nil {
			ep.mu.Unlock()
			return syscall.EEXIST
		}
		it = &item{key: k, file: p, events: ev.Events, data: ev.Data}
		ep.items[k] = it
		ep.mu.Unlock()
		// Register outside the lock: Watch may take the file's lock,
		// and the file calls wake with its lock held.
		cancel := p.Watch(func() { ep.wake(it) })
		ep.mu.Lock()
		it.cancel = cancel
		if it.removed { // a concurrent DEL won
			ep.mu.Unlock()
			cancel()
			return nil
		}
		ep.mu.Unlock()
		// A file that is ready already is reported by the next Wait,
		// even in edge-triggered mode (the "edge" is the ADD).
		ep.wake(it)
		return nil
	case EPOLL_CTL_MOD:
		if it == nil {
			ep.mu.Unlock()
			return syscall.ENOENT
		}
		if ev.Events&EPOLLEXCLUSIVE != 0 || it.events&EPOLLEXCLUSIVE != 0 {
			ep.mu.Unlock()
			return syscall.EINVAL
		}
		it.events, it.data, it.disabled = ev.Events, ev.Data, false
		ep.mu.Unlock()
		ep.wake(it)
		return nil
	case EPOLL_CTL_DEL:
		if it == nil {
			ep.mu.Unlock()
			return syscall.ENOENT
		}
		delete(ep.items, k)
		it.removed = true
		cancel := it.cancel
		ep.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		return nil
	}
	ep.mu.Unlock()
	return syscall.EINVAL
}

// wake is an item's Watch callback: the file's readiness may have changed.
// It must not block, and it runs on whatever goroutine changed the file.
func (ep *Epoll) wake(it *item) {
	ep.mu.Lock()
	if it.removed {
		ep.mu.Unlock()
		return
	}
	it.wakes++
	if !it.inReady {
		it.inReady = true
		ep.ready = append(ep.ready, it)
	}
	close(ep.changed)
	ep.changed = make(chan struct{})
	fns := make([]func(), 0, len(ep.watchers))
	for _, fn := range ep.watchers {
		fns = append(fns, fn)
	}
	ep.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Wait implements epoll_pwait: it fills events with up to len(events)
// ready events and returns how many. timeout < 0 waits forever, 0 polls.
// A receive from intr (a signal for the calling thread) ends the wait with
// EINTR; nil means uninterruptible.
func (ep *Epoll) Wait(events []Event, timeout time.Duration, intr <-chan struct{}) (int, error) {
	if len(events) == 0 {
		return 0, syscall.EINVAL
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		ep.mu.Lock()
		changed := ep.changed
		ep.mu.Unlock()
		if n := ep.collect(events); n > 0 {
			return n, nil
		}
		if timeout == 0 {
			return 0, nil
		}
		select {
		case <-changed:
		case <-expired:
			return 0, nil
		case <-intr:
			return 0, syscall.EINTR
		}
	}
}

// collect reports ready items into events; see the package comment.
func (ep *Epoll) collect(events []Event) int {
	type snap struct {
		it     *item
		wakes  uint64
		events uint32
		data   uint64
	}
	ep.mu.Lock()
	snaps := make([]snap, 0, len(ep.ready))
	for _, it := range ep.ready {
		snaps = append(snaps, snap{it, it.wakes, it.events, it.data})
	}
	ep.mu.Unlock()

	// Ask the files without holding ep.mu.
	bits := make([]uint32, len(snaps))
	for i, s := range snaps {
		bits[i] = s.it.file.Readiness() & (s.events&^modeBits | alwaysReported)
	}

	ep.mu.Lock()
	defer ep.mu.Unlock()
	n := 0
	// Each snapped item ends up in one of: waiting (still ready but not
	// reported, or changed meanwhile: front of the list), reported and
	// level-triggered (back of the list, so a small maxevents still
	// serves every ready file in turn), or off the list.
	const (
		drop = iota
		waiting
		again
	)
	fate := make(map[*item]int, len(snaps))
	for i, s := range snaps {
		it := s.it
		if it.removed || it.disabled || !it.inReady {
			continue
		}
		// Woken or modified since the snapshot: look again next time.
		if it.wakes != s.wakes || it.events != s.events || it.data != s.data {
			fate[it] = waiting
			continue
		}
		if bits[i] == 0 {
			continue
		}
		if n == len(events) {
			fate[it] = waiting
			continue
		}
		events[n] = Event{Events: bits[i], Data: it.data}
		n++
		switch {
		case it.events&EPOLLONESHOT != 0:
			it.disabled = true
		case it.events&EPOLLET != 0:
			// Reported once per edge.
		default:
			fate[it] = again
		}
	}
	snapped := make(map[*item]bool, len(snaps))
	for _, s := range snaps {
		snapped[s.it] = true
	}
	var front, middle, back []*item
	for _, it := range ep.ready {
		switch {
		case !snapped[it]: // appended by a wake during the unlocked part
			middle = append(middle, it)
		case it.removed || fate[it] == drop:
			it.inReady = false
		case fate[it] == waiting:
			front = append(front, it)
		default:
			back = append(back, it)
		}
	}
	ep.ready = append(append(front, middle...), back...)
	return n
}

// Readiness implements fdesc.Pollable, so an epoll can be watched by
// another epoll (or poll): readable when a Wait would report something.
func (ep *Epoll) Readiness() uint32 {
	ep.mu.Lock()
	var items []*item
	for _, it := range ep.ready {
		if !it.removed && !it.disabled {
			items = append(items, it)
		}
	}
	ep.mu.Unlock()
	for _, it := range items {
		if it.file.Readiness()&(it.events&^modeBits|alwaysReported) != 0 {
			return fdesc.PollIn
		}
	}
	return 0
}

// Watch implements fdesc.Pollable.
func (ep *Epoll) Watch(fn func()) (cancel func()) {
	ep.mu.Lock()
	id := ep.nextW
	ep.nextW++
	ep.watchers[id] = fn
	ep.mu.Unlock()
	return func() {
		ep.mu.Lock()
		delete(ep.watchers, id)
		ep.mu.Unlock()
	}
}

// Read implements fdesc.Description: reading an epoll is EINVAL.
func (ep *Epoll) Read([]byte) (int, error) { return 0, syscall.EINVAL }

// Write implements fdesc.Description: writing an epoll is EINVAL.
func (ep *Epoll) Write([]byte) (int, error) { return 0, syscall.EINVAL }

// Close drops every registration.
func (ep *Epoll) Close() error {
	ep.mu.Lock()
	var cancels []func()
	for k, it := range ep.items {
		it.removed = true
		if it.cancel != nil {
			cancels = append(cancels, it.cancel)
		}
		delete(ep.items, k)
	}
	ep.ready = nil
	ep.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	return nil
}

// Stat implements fdesc.Description (an anonymous inode).
func (ep *Epoll) Stat(st *syscall.Stat_t) error {
	*st = syscall.Stat_t{Mode: 0o600, Nlink: 1, Blksize: 4096}
	return nil
}

// Flags implements fdesc.Description.
func (ep *Epoll) Flags() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.flags
}

// SetFlags implements fdesc.Description; only O_NONBLOCK is kept (it has
// no effect on epoll_wait, as on Linux).
func (ep *Epoll) SetFlags(flags int) error {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.flags = ep.flags&^syscall.O_NONBLOCK | flags&syscall.O_NONBLOCK
	return nil
}
