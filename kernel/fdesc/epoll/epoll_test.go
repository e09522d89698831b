package epoll

import (
	"encoding/binary"
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fdesc/eventfd"
)

func newEventFD(t *testing.T, n uint32) *eventfd.EventFD {
	e, err := eventfd.New(n, eventfd.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func write(e *eventfd.EventFD, v uint64) {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	e.Write(b)
}

func drain(e *eventfd.EventFD) { e.Read(make([]byte, 8)) }

func mustNew(t *testing.T) *Epoll {
	ep, err := New(EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
}

func poll(t *testing.T, ep *Epoll, max int) []Event {
	t.Helper()
	evs := make([]Event, max)
	n, err := ep.Wait(evs, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return evs[:n]
}

func TestLevelTriggered(t *testing.T) {
	ep := mustNew(t)
	e := newEventFD(t, 1)
	if err := ep.Ctl(EPOLL_CTL_ADD, 5, e, Event{EPOLLIN, 42}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		evs := poll(t, ep, 4)
		if len(evs) != 1 || evs[0] != (Event{EPOLLIN, 42}) {
			t.Fatalf("poll %d: %v", i, evs)
		}
	}
	drain(e)
	if evs := poll(t, ep, 4); len(evs) != 0 {
		t.Fatalf("after drain: %v", evs)
	}
	// Only the requested bits are reported (eventfd is also writable).
	write(e, 1)
	ep.Ctl(EPOLL_CTL_MOD, 5, e, Event{EPOLLIN | EPOLLOUT, 7})
	if evs := poll(t, ep, 4); len(evs) != 1 || evs[0].Events != EPOLLIN|EPOLLOUT || evs[0].Data != 7 {
		t.Fatalf("after MOD: %v", evs)
	}
}

func TestEdgeTriggered(t *testing.T) {
	ep := mustNew(t)
	e := newEventFD(t, 0)
	ep.Ctl(EPOLL_CTL_ADD, 3, e, Event{EPOLLIN | EPOLLET, 1})
	if evs := poll(t, ep, 4); len(evs) != 0 {
		t.Fatalf("nothing ready yet: %v", evs)
	}
	write(e, 1)
	if evs := poll(t, ep, 4); len(evs) != 1 {
		t.Fatalf("after write: %v", evs)
	}
	// Still readable, but no new edge: not reported again.
	if evs := poll(t, ep, 4); len(evs) != 0 {
		t.Fatalf("edge reported twice: %v", evs)
	}
	// Another write is another edge, even though it was already readable.
	write(e, 1)
	if evs := poll(t, ep, 4); len(evs) != 1 {
		t.Fatalf("second edge: %v", evs)
	}
}

func TestOneShot(t *testing.T) {
	ep := mustNew(t)
	e := newEventFD(t, 1)
	ep.Ctl(EPOLL_CTL_ADD, 3, e, Event{EPOLLIN | EPOLLONESHOT, 1})
	if evs := poll(t, ep, 4); len(evs) != 1 {
		t.Fatalf("first: %v", evs)
	}
	write(e, 1)
	if evs := poll(t, ep, 4); len(evs) != 0 {
		t.Fatalf("oneshot fired twice: %v", evs)
	}
	ep.Ctl(EPOLL_CTL_MOD, 3, e, Event{EPOLLIN | EPOLLONESHOT, 2})
	if evs := poll(t, ep, 4); len(evs) != 1 || evs[0].Data != 2 {
		t.Fatalf("re-armed: %v", evs)
	}
}

func TestMaxEventsRoundRobin(t *testing.T) {
	ep := mustNew(t)
	for i := 0; i < 3; i++ {
		ep.Ctl(EPOLL_CTL_ADD, i, newEventFD(t, 1), Event{EPOLLIN, uint64(i)})
	}
	seen := map[uint64]int{}
	for i := 0; i < 3; i++ {
		evs := poll(t, ep, 2)
		if len(evs) != 2 {
			t.Fatalf("poll %d returned %d events", i, len(evs))
		}
		for _, e := range evs {
			seen[e.Data]++
		}
	}
	for i := uint64(0); i < 3; i++ {
		if seen[i] != 2 {
			t.Fatalf("unfair reporting: %v", seen)
		}
	}
	if _, err := ep.Wait(nil, 0, nil); err != syscall.EINVAL {
		t.Fatalf("maxevents 0: %v", err)
	}
}

func TestWaitBlocksTimesOutAndIsInterrupted(t *testing.T) {
	ep := mustNew(t)
	e := newEventFD(t, 0)
	ep.Ctl(EPOLL_CTL_ADD, 3, e, Event{EPOLLIN | EPOLLET, 9})
	evs := make([]Event, 8)

	start := time.Now()
	if n, err := ep.Wait(evs, 30*time.Millisecond, nil); n != 0 || err != nil {
		t.Fatalf("timeout wait = %d, %v", n, err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("returned after %v", d)
	}

	intr := make(chan struct{})
	go func() { time.Sleep(10 * time.Millisecond); close(intr) }()
	if _, err := ep.Wait(evs, -1, intr); err != syscall.EINTR {
		t.Fatalf("interrupted wait: %v", err)
	}

	// The way Go's netpollBreak wakes a poller blocked forever.
	go func() { time.Sleep(10 * time.Millisecond); write(e, 1) }()
	n, err := ep.Wait(evs, -1, nil)
	if n != 1 || err != nil || evs[0] != (Event{EPOLLIN, 9}) {
		t.Fatalf("woken wait = %d %v %v", n, err, evs[0])
	}
}

type regularFile struct{ fdesc.Description }

func TestCtlErrors(t *testing.T) {
	ep := mustNew(t)
	e := newEventFD(t, 1)
	if err := ep.Ctl(EPOLL_CTL_ADD, 4, regularFile{}, Event{EPOLLIN, 0}); err != syscall.EPERM {
		t.Fatalf("regular file: %v", err)
	}
	if err := ep.Ctl(EPOLL_CTL_ADD, 4, ep, Event{EPOLLIN, 0}); err != syscall.EINVAL {
		t.Fatalf("self: %v", err)
	}
	if err := ep.Ctl(EPOLL_CTL_MOD, 4, e, Event{EPOLLIN, 0}); err != syscall.ENOENT {
		t.Fatalf("MOD unknown: %v", err)
	}
	ep.Ctl(EPOLL_CTL_ADD, 4, e, Event{EPOLLIN, 0})
	if err := ep.Ctl(EPOLL_CTL_ADD, 4, e, Event{EPOLLIN, 0}); err != syscall.EEXIST {
		t.Fatalf("double ADD: %v", err)
	}
	// The same file under another descriptor number is a separate entry.
	if err := ep.Ctl(EPOLL_CTL_ADD, 8, e, Event{EPOLLIN, 1}); err != nil {
		t.Fatalf("dup fd: %v", err)
	}
	if evs := poll(t, ep, 4); len(evs) != 2 {
		t.Fatalf("two registrations: %v", evs)
	}
	ep.Ctl(EPOLL_CTL_DEL, 4, e, Event{})
	ep.Ctl(EPOLL_CTL_DEL, 8, e, Event{})
	if evs := poll(t, ep, 4); len(evs) != 0 {
		t.Fatalf("after DEL: %v", evs)
	}
	if err := ep.Ctl(EPOLL_CTL_DEL, 4, e, Event{}); err != syscall.ENOENT {
		t.Fatalf("double DEL: %v", err)
	}
	if err := ep.Ctl(99, 4, e, Event{}); err != syscall.EINVAL {
		t.Fatalf("bad op: %v", err)
	}
}

func TestNestedEpoll(t *testing.T) {
	outer, inner := mustNew(t), mustNew(t)
	e := newEventFD(t, 0)
	inner.Ctl(EPOLL_CTL_ADD, 3, e, Event{EPOLLIN, 0})
	outer.Ctl(EPOLL_CTL_ADD, 4, inner, Event{EPOLLIN | EPOLLET, 77})
	if evs := poll(t, outer, 4); len(evs) != 0 {
		t.Fatalf("idle: %v", evs)
	}
	write(e, 1)
	if evs := poll(t, outer, 4); len(evs) != 1 || evs[0].Data != 77 {
		t.Fatalf("nested: %v", evs)
	}
}

func TestEventEncoding(t *testing.T) {
	b := make([]byte, 2*EventSize)
	PutEvents(b, []Event{{EPOLLIN | EPOLLET, 0x1122334455667788}, {EPOLLOUT, 1}})
	if got := ParseEvent(b[EventSize:]); got != (Event{EPOLLOUT, 1}) {
		t.Fatalf("second event %v", got)
	}
	if b[4] != 0x88 || b[11] != 0x11 {
		t.Fatalf("layout %x", b[:12])
	}
}
