package virtio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQueueChainsAndFreeList(t *testing.T) {
	mem := newFakeMem()
	q, err := NewQueue(mem, 8)
	if err != nil {
		t.Fatal(err)
	}
	desc, avail, used := q.Addresses()
	if avail != desc+16*8 || used%4096 != 0 || used <= avail {
		t.Fatalf("layout desc %#x avail %#x used %#x", desc, avail, used)
	}
	dq := devQueue{size: 8, desc: desc, avail: avail, used: used}

	// Three chains of 3 descriptors need 9 > 8: the third is refused.
	mk := func(base uint64) []Buffer {
		return []Buffer{{Phys: base, Len: 10}, {Phys: base + 10, Len: 20}, {Phys: base + 30, Len: 30, Write: true}}
	}
	h1, err1 := q.Add(mk(0x1000))
	h2, err2 := q.Add(mk(0x2000))
	if err1 != nil || err2 != nil || h1 == h2 {
		t.Fatalf("add: %v %v heads %d %d", err1, err2, h1, h2)
	}
	if _, err := q.Add(mk(0x3000)); err != ErrQueueFull {
		t.Fatalf("third chain: %v", err)
	}
	if q.NumFree() != 2 {
		t.Fatalf("free %d", q.NumFree())
	}
	// The device sees both chains intact, in order.
	for i, want := range []uint64{0x1000, 0x2000} {
		c, ok := dq.pop(mem)
		if !ok || len(c.bufs) != 3 || c.bufs[0].Phys != want || c.bufs[2].Len != 30 || !c.bufs[2].Write || c.bufs[0].Write {
			t.Fatalf("chain %d: %+v %v", i, c, ok)
		}
	}
	if _, _, ok := q.Used(); ok {
		t.Fatal("used before the device returned anything")
	}
	// Completed out of order, as devices may.
	dq.push(mem, h2, 5)
	dq.push(mem, h1, 7)
	if h, n, ok := q.Used(); !ok || h != h2 || n != 5 {
		t.Fatalf("first used = %d %d %v", h, n, ok)
	}
	if h, n, ok := q.Used(); !ok || h != h1 || n != 7 {
		t.Fatalf("second used = %d %d %v", h, n, ok)
	}
	if q.NumFree() != 8 {
		t.Fatalf("free after return %d", q.NumFree())
	}
	// Many rounds through the ring: indices wrap, free list stays sane.
	for round := 0; round < 100; round++ {
		var heads []uint16
		for q.NumFree() >= 2 {
			h, err := q.Add([]Buffer{{Phys: uint64(round), Len: 1}, {Phys: 1, Len: 1}})
			if err != nil {
				t.Fatal(err)
			}
			heads = append(heads, h)
		}
		for range heads {
			c, ok := dq.pop(mem)
			if !ok || c.bufs[0].Phys != uint64(round) {
				t.Fatalf("round %d: %+v", round, c)
			}
			dq.push(mem, c.head, 0)
		}
		for range heads {
			if _, _, ok := q.Used(); !ok {
				t.Fatalf("round %d: missing used entry", round)
			}
		}
	}
	if _, err := NewQueue(mem, 6); err == nil {
		t.Fatal("queue size 6 accepted")
	}
}

// netRig is a driver on a simulated device with an interrupt goroutine,
// as the kernel will run it.
type netRig struct {
	dev  *fakeNet
	n    *Net
	mu   sync.Mutex
	got  [][]byte
	vals []bool
	intr chan struct{}
	done chan struct{}
}

func newRig(t *testing.T, version uint32, features uint64) *netRig {
	t.Helper()
	mem := newFakeMem()
	dev := newFakeNet(mem, version, features)
	tr, err := NewMMIO(dev)
	if err != nil {
		t.Fatal(err)
	}
	r := &netRig{dev: dev, intr: make(chan struct{}, 1), done: make(chan struct{})}
	// The interrupt line: the device "raises" it; a goroutine handles it.
	dev.irq = func() {
		select {
		case r.intr <- struct{}{}:
		default:
		}
	}
	n, err := NewNet(tr, mem)
	if err != nil {
		t.Fatal(err)
	}
	r.n = n
	n.SetReceiver(func(frame []byte, valid bool) {
		r.mu.Lock()
		r.got = append(r.got, append([]byte(nil), frame...))
		r.vals = append(r.vals, valid)
		r.mu.Unlock()
	})
	go func() {
		for {
			select {
			case <-r.intr:
				n.HandleInterrupt()
			case <-r.done:
				return
			}
		}
	}()
	t.Cleanup(func() { close(r.done) })
	return r
}

func (r *netRig) received() ([][]byte, []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.got...), append([]bool(nil), r.vals...)
}

func frame(i int) []byte {
	f := make([]byte, 60+i%1400)
	copy(f, fmt.Sprintf("frame %d", i))
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	return f
}

const modernFeatures = 1<<FeatureVersion1 | 1<<NetFMAC | 1<<NetFCsum | 1<<NetFGuestCsum | 1<<NetFStatus

func TestNetNegotiationModern(t *testing.T) {
	r := newRig(t, 2, modernFeatures)
	want := uint64(1<<FeatureVersion1 | 1<<NetFMAC | 1<<NetFCsum | 1<<NetFGuestCsum)
	if r.n.Features() != want {
		t.Fatalf("negotiated %#x, want %#x (STATUS was not asked for)", r.n.Features(), want)
	}
	if r.dev.status != StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK {
		t.Fatalf("status %#x", r.dev.status)
	}
	if r.n.MAC() != r.dev.mac || r.n.MTU() != 1500 {
		t.Fatalf("mac %x mtu %d", r.n.MAC(), r.n.MTU())
	}
	if !r.dev.queues[0].ready || !r.dev.queues[1].ready || r.dev.queues[0].size != netQueueSize {
		t.Fatalf("queues %+v", r.dev.queues)
	}
}

func TestNetRefusesModernDeviceWithoutVersion1(t *testing.T) {
	mem := newFakeMem()
	dev := newFakeNet(mem, 2, 1<<NetFMAC)
	tr, _ := NewMMIO(dev)
	if _, err := NewNet(tr, mem); err == nil {
		t.Fatal("accepted a modern device without VERSION_1")
	}
	if dev.status&StatusFailed == 0 {
		t.Fatalf("status %#x, want FAILED set", dev.status)
	}
}

func TestMMIOProbe(t *testing.T) {
	mem := newFakeMem()
	if _, err := NewMMIO(badMagic{newFakeNet(mem, 2, 0)}); err == nil {
		t.Fatal("bad magic accepted")
	}
}

type badMagic struct{ *fakeNet }

func (b badMagic) Read32(off uint32) uint32 {
	if off == mmioMagic {
		return 0
	}
	return b.fakeNet.Read32(off)
}

func testTxRx(t *testing.T, version uint32, features uint64) {
	r := newRig(t, version, features)
	// Transmit: each frame arrives once, intact, after the header.
	for i := 0; i < 50; i++ {
		if err := r.n.Transmit(frame(i), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	sent := r.dev.sentFrames()
	if len(sent) != 50 {
		t.Fatalf("device got %d frames", len(sent))
	}
	for i, f := range sent {
		if !bytes.Equal(f, frame(i)) {
			t.Fatalf("frame %d corrupted", i)
		}
		if h := r.dev.sentHdrs[i]; len(h) != r.dev.hdrLen() || !bytes.Equal(h, make([]byte, len(h))) {
			t.Fatalf("header %x", h)
		}
	}
	// Receive more frames than there are buffers: buffers are reposted.
	hdr := make([]byte, r.dev.hdrLen())
	total := 3 * netQueueSize
	for i := 0; i < total; i++ {
		deadline := time.Now().Add(5 * time.Second)
		for !r.dev.inject(hdr, frame(i)) {
			if time.Now().After(deadline) {
				t.Fatalf("no receive buffer for frame %d", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := r.received()
		if len(got) == total {
			for i, f := range got {
				if !bytes.Equal(f, frame(i)) {
					t.Fatalf("received frame %d corrupted", i)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d", len(got), total)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNetTxRxModern(t *testing.T) { testTxRx(t, 2, modernFeatures) }

func TestNetTxRxLegacy(t *testing.T) { testTxRx(t, 1, 1<<NetFMAC) }

func TestNetTxRxLegacyAnyLayout(t *testing.T) { testTxRx(t, 1, 1<<NetFMAC|1<<FeatureAnyLayout) }

// Sending needs no interrupts: the driver reclaims sent buffers on its next
// transmit. A device that honours NO_INTERRUPT raises none for a stream of
// frames longer than the ring.
func TestNetTxWithoutInterrupts(t *testing.T) {
	r := newRig(t, 2, modernFeatures)
	for i := 0; i < 3*netQueueSize; i++ {
		if err := r.n.Transmit(frame(i), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	r.dev.mu.Lock()
	isr := r.dev.isr
	r.dev.mu.Unlock()
	if isr != 0 {
		t.Fatalf("the device was asked to interrupt for sent frames (ISR %#x)", isr)
	}
	if got := len(r.dev.sentFrames()); got != 3*netQueueSize {
		t.Fatalf("device got %d of %d frames", got, 3*netQueueSize)
	}
	if r.n.Stats.TxWaits != 0 {
		t.Fatalf("%d waits for ring space although the device kept up", r.n.Stats.TxWaits)
	}
}

func TestNetTxBackPressure(t *testing.T) {
	r := newRig(t, 2, modernFeatures)
	r.dev.mu.Lock()
	r.dev.txPaused = true
	r.dev.mu.Unlock()
	n := netQueueSize + 10
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := r.n.Transmit(frame(i), 0, 0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		t.Fatalf("transmit of %d frames into a %d-entry ring did not block (%v)", n, netQueueSize, err)
	case <-time.After(100 * time.Millisecond):
	}
	// A waiting transmitter must ask for the interrupt that wakes it,
	// not be left to its slow poll.
	r.dev.mu.Lock()
	flags := atomic.LoadUint32(r.dev.mem.word(r.dev.queues[netTxQueue].avail))
	r.dev.mu.Unlock()
	if flags&availFNoInterrupt != 0 {
		t.Fatal("the transmitter waits for ring space with the device's interrupts suppressed")
	}
	r.dev.resumeTx()
	// The device resumes consuming at each notify, as a real one would.
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			r.dev.resumeTx()
			sent := r.dev.sentFrames()
			if len(sent) != n {
				t.Fatalf("device got %d of %d frames", len(sent), n)
			}
			for i, f := range sent {
				if !bytes.Equal(f, frame(i)) {
					t.Fatalf("frame %d out of order or corrupted", i)
				}
			}
			if r.n.Stats.TxWaits == 0 {
				t.Fatal("no back-pressure wait recorded")
			}
			return
		case <-time.After(5 * time.Second):
			t.Fatal("blocked transmitter never resumed")
		}
	}
}

// udpFrame builds an Ethernet+IPv4+UDP frame whose UDP checksum field
// holds the pseudo-header sum, as a stack doing checksum offload leaves it.
func udpFrame(payload []byte) (f []byte, csumStart, csumOffset int) {
	f = make([]byte, 14+20+8+len(payload))
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 17
	copy(ip[12:], []byte{10, 0, 2, 15, 10, 0, 2, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp, 1234)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	var sum uint32 = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + uint32(8+len(payload))
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(udp[6:], uint16(sum))
	return f, 14 + 20, 6
}

// verifyUDP checks the UDP checksum of a frame from udpFrame.
func verifyUDP(f []byte) bool {
	udp := f[34:]
	var sum uint32 = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + uint32(len(udp))
	for i := 0; i+1 < len(udp); i += 2 {
		sum += uint32(udp[i])<<8 | uint32(udp[i+1])
	}
	if len(udp)%2 == 1 {
		sum += uint32(udp[len(udp)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

func TestNetChecksumOffload(t *testing.T) {
	// The device offers CSUM: the driver asks it to finish the sum.
	r := newRig(t, 2, modernFeatures)
	f, start, off := udpFrame([]byte("hello, odd length"))
	if err := r.n.Transmit(f, start, off); err != nil {
		t.Fatal(err)
	}
	h := r.dev.sentHdrs[0]
	if h[0] != netHdrNeedsCsum || binary.LittleEndian.Uint16(h[6:]) != uint16(start) || binary.LittleEndian.Uint16(h[8:]) != uint16(off) {
		t.Fatalf("header %x", h)
	}

	// It does not: the driver computes the checksum itself.
	r2 := newRig(t, 2, 1<<FeatureVersion1|1<<NetFMAC)
	f, start, off = udpFrame([]byte("hello, odd length"))
	r2.n.Transmit(f, start, off)
	if s := r2.dev.sentFrames()[0]; r2.dev.sentHdrs[0][0] != 0 || !verifyUDP(s) {
		t.Fatalf("software checksum wrong: %x", s[34:42])
	}

	// Receive: DATA_VALID is passed on; NEEDS_CSUM is completed.
	hdr := make([]byte, 12)
	hdr[0] = netHdrDataValid
	r.dev.inject(hdr, frame(1))
	f, start, off = udpFrame([]byte("partial"))
	hdr = make([]byte, 12)
	hdr[0] = netHdrNeedsCsum
	binary.LittleEndian.PutUint16(hdr[6:], uint16(start))
	binary.LittleEndian.PutUint16(hdr[8:], uint16(off))
	r.dev.inject(hdr, f)
	r.dev.inject(make([]byte, 12), frame(2))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, valid := r.received()
		if len(got) == 3 {
			if !valid[0] || !valid[1] || valid[2] {
				t.Fatalf("csumValid %v", valid)
			}
			if !verifyUDP(got[1]) {
				t.Fatal("received partial checksum not completed")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d", len(got))
		}
		time.Sleep(time.Millisecond)
	}
}
