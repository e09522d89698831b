package net

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// tcpFrame builds an Ethernet+IPv4+TCP frame (checksums are not needed by
// the link's parser).
func tcpFrame(flags header.TCPFlags, ack uint32, payload int, opts []byte) []byte {
	f := make([]byte, 14+20+20+len(opts)+payload)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], ipA[:])
	copy(ip[16:], ipB[:])
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 8080)
	binary.BigEndian.PutUint16(tcp[2:], 40000)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = uint8(20+len(opts)) / 4 << 4
	tcp[13] = uint8(flags)
	copy(tcp[20:], opts)
	return f
}

// The link's decisions, one rule at a time.
func TestAckDelayerRules(t *testing.T) {
	var sent [][]byte
	d := newAckDelayer(1500, func(f []byte) error { sent = append(sent, f); return nil })
	defer d.timer.Stop()
	must := func(name string, f []byte, want bool) {
		t.Helper()
		if got := d.filter(f); got != want {
			t.Fatalf("%s: send now = %v, want %v", name, got, want)
		}
	}
	must("first segment of a connection", tcpFrame(header.TCPFlagSyn|header.TCPFlagAck, 1000, 0, nil), true)
	must("ACK of a small request", tcpFrame(header.TCPFlagAck, 1100, 0, nil), false)
	must("newer ACK replaces it", tcpFrame(header.TCPFlagAck, 1200, 0, nil), false)
	must("the response, carrying the acknowledgement", tcpFrame(header.TCPFlagAck|header.TCPFlagPsh, 1200, 300, nil), true)
	if len(sent) != 0 {
		t.Fatalf("%d held ACKs were sent although the response made them redundant", len(sent))
	}
	must("window update (nothing new acknowledged)", tcpFrame(header.TCPFlagAck, 1200, 0, nil), true)
	must("two full segments acknowledged", tcpFrame(header.TCPFlagAck, 1200+2*1460, 0, nil), true)
	sack := []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	must("ACK with SACK blocks", tcpFrame(header.TCPFlagAck, 1200+2*1460+10, 0, sack), true)
	must("ACK held", tcpFrame(header.TCPFlagAck, 1200+2*1460+20, 0, nil), false)
	must("a bare RST", tcpFrame(header.TCPFlagRst, 0, 0, nil), true)
	if len(sent) != 1 || binary.BigEndian.Uint32(sent[0][14+20+8:]) != 1200+2*1460+20 {
		t.Fatalf("the held ACK was not sent ahead of a segment without an acknowledgement: %d sent", len(sent))
	}
	must("not TCP", []byte{1, 2, 3}, true)
}

// An ACK nothing else carries leaves on its own within the delay.
func TestAckDelayerFlushes(t *testing.T) {
	sent := make(chan []byte, 4)
	d := newAckDelayer(1500, func(f []byte) error { sent <- f; return nil })
	d.filter(tcpFrame(header.TCPFlagSyn|header.TCPFlagAck, 1000, 0, nil))
	if d.filter(tcpFrame(header.TCPFlagAck, 1100, 0, nil)) {
		t.Fatal("ACK of a small request not held")
	}
	select {
	case f := <-sent:
		if binary.BigEndian.Uint32(f[14+20+8:]) != 1100 {
			t.Fatal("wrong frame flushed")
		}
	case <-time.After(time.Second):
		t.Fatal("held ACK never sent")
	}
}

// Through two stacks: a request-response exchange puts no pure ACK from
// the server on the wire (the response carries it), and a request the
// server only reads is still acknowledged.
func TestDelayedAckOnTheWire(t *testing.T) {
	a, bs, _, db := newPair(t)
	var pureACKs, serving atomic.Int32
	db.mu.Lock()
	db.drop = func(f []byte) bool {
		if s, ok := parseTCP(f); ok && serving.Load() == 1 && s.payload == 0 && s.flags == header.TCPFlagAck {
			pureACKs.Add(1)
		}
		return false
	}
	db.mu.Unlock()
	c, srv := connected(t, a, bs, 8080)
	time.Sleep(50 * time.Millisecond) // the handshake's last ACKs are out
	serving.Store(1)
	buf := make([]byte, 64)
	for i := 0; i < 20; i++ {
		if _, err := c.Write([]byte("request")); err != nil {
			t.Fatal(err)
		}
		if n, err := srv.Read(buf); n != 7 || err != nil {
			t.Fatalf("server read %d %v", n, err)
		}
		if _, err := srv.Write([]byte("response")); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(buf); n != 8 || err != nil {
			t.Fatalf("client read %d %v", n, err)
		}
	}
	if n := pureACKs.Load(); n > 2 {
		t.Errorf("the server sent %d pure ACKs in 20 request-response exchanges", n)
	}
	// A request without a response is acknowledged all the same.
	before := pureACKs.Load()
	c.Write([]byte("no answer"))
	srv.Read(buf)
	deadline := time.Now().Add(2 * time.Second)
	for pureACKs.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("a request with no response was never acknowledged")
		}
		time.Sleep(time.Millisecond)
	}
}
