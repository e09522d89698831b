package net

import (
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/drivers/virtio"
)

// wireDev is one end of a simulated Ethernet cable: frames transmitted on
// one end are received, in order, by the other end's receiver on a
// goroutine of its own (as a driver's receive goroutine would). The queue
// is bounded, so Transmit exercises the back-pressure contract.
type wireDev struct {
	mac  [6]byte
	peer *wireDev
	q    chan []byte
	done chan struct{}

	mu sync.Mutex
	rx func([]byte, bool)
	// drop, if set, decides to lose a frame (for DHCP retry tests).
	drop func([]byte) bool
}

func newWire(t testing.TB) (*wireDev, *wireDev) {
	done := make(chan struct{})
	a := &wireDev{mac: [6]byte{2, 0, 0, 0, 0, 1}, q: make(chan []byte, 256), done: done}
	b := &wireDev{mac: [6]byte{2, 0, 0, 0, 0, 2}, q: make(chan []byte, 256), done: done}
	a.peer, b.peer = b, a
	for _, d := range []*wireDev{a, b} {
		go d.run()
	}
	t.Cleanup(func() { close(done) })
	return a, b
}

func (d *wireDev) run() {
	for {
		select {
		case f := <-d.q:
			d.mu.Lock()
			rx := d.rx
			d.mu.Unlock()
			if rx != nil {
				rx(f, false)
			}
		case <-d.done:
			return
		}
	}
}

func (d *wireDev) MAC() [6]byte { return d.mac }
func (d *wireDev) MTU() int     { return 1500 }

func (d *wireDev) SetReceiver(rx func([]byte, bool)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rx = rx
}

func (d *wireDev) Transmit(frame []byte, csumStart, csumOffset int) error {
	if len(frame) > 14+d.MTU() {
		return errors.New("frame exceeds MTU")
	}
	d.mu.Lock()
	drop := d.drop
	d.mu.Unlock()
	if drop != nil && drop(frame) {
		return nil
	}
	f := append([]byte(nil), frame...)
	select {
	case d.peer.q <- f:
		return nil
	case <-d.done:
		return errors.New("wire cut")
	}
}

// newPair returns two stacks on one wire: a at 10.0.0.1/24 and b at
// 10.0.0.2/24.
func newPair(t testing.TB) (a, b *Stack, da, db *wireDev) {
	t.Helper()
	da, db = newWire(t)
	for i, pair := range []struct {
		dev  *wireDev
		addr string
	}{{da, "10.0.0.1/24"}, {db, "10.0.0.2/24"}} {
		s, err := NewStack()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AttachDevice(pair.dev); err != nil {
			t.Fatal(err)
		}
		if err := s.ConfigureStatic(StaticConfig{Addr: netip.MustParsePrefix(pair.addr)}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		if i == 0 {
			a = s
		} else {
			b = s
		}
	}
	return a, b, da, db
}

var (
	ipA = [4]byte{10, 0, 0, 1}
	ipB = [4]byte{10, 0, 0, 2}
)

func mustSocket(t testing.TB, s *Stack, domain, typ int) *Socket {
	t.Helper()
	so, err := s.Socket(domain, typ, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { so.Close() })
	return so
}

// listener returns a TCP socket of s listening on addr:port.
func listener(t testing.TB, s *Stack, addr [4]byte, port uint16, backlog int) *Socket {
	t.Helper()
	l := mustSocket(t, s, syscall.AF_INET, syscall.SOCK_STREAM)
	if err := l.Bind(SockaddrInet4(addr, port)); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := l.Listen(backlog); err != nil {
		t.Fatalf("listen: %v", err)
	}
	return l
}

// waitReady waits until so's readiness has one of bits, the way epoll
// would: through Watch callbacks.
func waitReady(t testing.TB, so *Socket, bits uint32, timeout time.Duration) uint32 {
	t.Helper()
	ch := make(chan struct{}, 1)
	cancel := so.Watch(func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	defer cancel()
	deadline := time.After(timeout)
	for {
		if r := so.Readiness(); r&bits != 0 {
			return r
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("readiness %#x never showed any of %#x", so.Readiness(), bits)
		}
	}
}

func expectErrno(t testing.TB, what string, err error, want syscall.Errno) {
	t.Helper()
	if err != want {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// The virtio-net driver is a Device without importing this package.
var _ Device = (*virtio.Net)(nil)
