package net

import (
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fdesc/epoll"
	"github.com/stardust-go/stardust/kernel/fdesc/eventfd"
)

// TestEpollEdgeTriggeredLikeGoNetpoller drives sockets the way Go's
// runtime does: every socket registered once with
// EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET, an eventfd to break the wait, and
// reads until EAGAIN before waiting again.
func TestEpollEdgeTriggeredLikeGoNetpoller(t *testing.T) {
	a, b, _, _ := newPair(t)
	ep, _ := epoll.New(epoll.EPOLL_CLOEXEC)
	defer ep.Close()
	brk, _ := eventfd.New(0, eventfd.EFD_NONBLOCK)
	const mode = epoll.EPOLLIN | epoll.EPOLLOUT | epoll.EPOLLRDHUP | epoll.EPOLLET
	if err := ep.Ctl(epoll.EPOLL_CTL_ADD, 3, brk, epoll.Event{Events: epoll.EPOLLIN, Data: 3}); err != nil {
		t.Fatal(err)
	}

	l := listener(t, b, ipB, 90, 8)
	l.SetFlags(syscall.O_NONBLOCK)
	ep.Ctl(epoll.EPOLL_CTL_ADD, 4, l, epoll.Event{Events: mode, Data: 4})

	c, _ := a.Socket(syscall.AF_INET, syscall.SOCK_STREAM|SOCK_NONBLOCK, 0)
	defer c.Close()
	ep.Ctl(epoll.EPOLL_CTL_ADD, 5, c, epoll.Event{Events: mode, Data: 5})
	expectErrno(t, "connect", c.Connect(SockaddrInet4(ipB, 90)), syscall.EINPROGRESS)

	evs := make([]epoll.Event, 16)
	// pending keeps events reported for other descriptors than the one
	// being waited for, as a poller would dispatch them later.
	pending := map[uint64]uint32{}
	// wait returns the events for data, waiting up to 5 s for some.
	wait := func(data uint64) uint32 {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if ev, ok := pending[data]; ok {
				delete(pending, data)
				return ev
			}
			n, err := ep.Wait(evs, time.Until(deadline), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs[:n] {
				pending[e.Data] |= e.Events
			}
		}
		t.Fatalf("no event for %d", data)
		return 0
	}
	if ev := wait(5); ev&epoll.EPOLLOUT == 0 {
		t.Fatalf("connect completion reported as %#x", ev)
	}
	if ev := wait(4); ev&epoll.EPOLLIN == 0 {
		t.Fatalf("listener event %#x", ev)
	}
	s, _, err := l.Accept(SOCK_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ep.Ctl(epoll.EPOLL_CTL_ADD, 6, s, epoll.Event{Events: mode, Data: 6})
	if ev := wait(6); ev&epoll.EPOLLOUT == 0 || ev&epoll.EPOLLIN != 0 {
		t.Fatalf("fresh connection %#x", ev)
	}

	// Data arrives: one edge. Drain to EAGAIN; then nothing more until
	// new data, even though the connection stays writable.
	c.Write([]byte("hello"))
	if ev := wait(6); ev&epoll.EPOLLIN == 0 {
		t.Fatalf("data event %#x", ev)
	}
	buf := make([]byte, 64)
	if n, _ := s.Read(buf); n != 5 {
		t.Fatalf("read %d", n)
	}
	if _, err := s.Read(buf); err != syscall.EAGAIN {
		t.Fatalf("drained read: %v", err)
	}
	delete(pending, 6)
	if n, _ := ep.Wait(evs, 20*time.Millisecond, nil); n != 0 {
		for _, e := range evs[:n] {
			if e.Data == 6 {
				t.Fatalf("edge-triggered socket reported again: %#x", e.Events)
			}
			pending[e.Data] |= e.Events
		}
	}

	// netpollBreak: another goroutine wakes a poller blocked forever.
	go func() {
		time.Sleep(10 * time.Millisecond)
		brk.Write([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	}()
	if ev := wait(3); ev != epoll.EPOLLIN {
		t.Fatalf("break event %#x", ev)
	}

	// The peer closes: EPOLLIN|EPOLLRDHUP.
	c.Close()
	if ev := wait(6); ev&epoll.EPOLLRDHUP == 0 || ev&epoll.EPOLLIN == 0 {
		t.Fatalf("close event %#x", ev)
	}
}
