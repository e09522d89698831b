package net

import (
	"syscall"
	"testing"
	"time"
)

// TestConnectBurstSlowAcceptor: 100 clients connect at once to a listener
// with backlog 128 whose owner accepts slowly; every one must be accepted.
func TestConnectBurstSlowAcceptor(t *testing.T) {
	a, b, _, _ := newPair(t)
	l := listener(t, a, [4]byte{10, 0, 0, 1}, 8080, 128)
	const n = 100
	for i := 0; i < n; i++ {
		go func() {
			c := mustSocket(t, b, syscall.AF_INET, syscall.SOCK_STREAM)
			c.Connect(SockaddrInet4([4]byte{10, 0, 0, 1}, 8080))
		}()
	}
	accepted := 0
	deadline := time.Now().Add(20 * time.Second)
	for accepted < n && time.Now().Before(deadline) {
		_, _, err := l.Accept(0)
		if err == nil {
			accepted++
			time.Sleep(2 * time.Millisecond)
		}
	}
	if accepted != n {
		t.Fatalf("accepted %d of %d connections", accepted, n)
	}
}

// The same, accepting the way Go's netpoller does: non-blocking accept
// until EAGAIN, then wait for the readiness callback.
func TestConnectBurstNonblockingAcceptor(t *testing.T) {
	a, b, _, _ := newPair(t)
	l := listener(t, a, [4]byte{10, 0, 0, 1}, 8081, 128)
	l.SetFlags(l.Flags() | syscall.O_NONBLOCK)
	const n = 100
	for i := 0; i < n; i++ {
		go func() {
			c := mustSocket(t, b, syscall.AF_INET, syscall.SOCK_STREAM)
			c.Connect(SockaddrInet4([4]byte{10, 0, 0, 1}, 8081))
		}()
	}
	accepted := 0
	deadline := time.Now().Add(20 * time.Second)
	for accepted < n && time.Now().Before(deadline) {
		_, _, err := l.Accept(syscall.SOCK_NONBLOCK)
		if err == nil {
			accepted++
			time.Sleep(2 * time.Millisecond)
			continue
		}
		waitReady(t, l, 1, 5*time.Second)
	}
	if accepted != n {
		t.Fatalf("accepted %d of %d connections", accepted, n)
	}
}
