package net

import (
	"encoding/binary"
	"sync"
	"time"
)

// Delayed ACKs at the link.
//
// netstack acknowledges received data at once: after each batch of inbound
// segments it sends a pure ACK. A request-response server then sends two
// segments per request, the ACK of the request and, a moment later, the
// response, which carries the same acknowledgement. Linux delays the ACK
// (RFC 1122 §4.2.3.2, RFC 5681 §4.2) and the response takes it along. Under
// emulation every segment costs a device notification and work in the
// hypervisor, so the link does what netstack does not: it holds back a
// pure ACK for up to ackDelay and drops it if another segment of the same
// connection, which carries a newer acknowledgement, is sent meanwhile.
//
// Only ACKs that delay nothing the peer waits for are held: no data, no
// SYN/FIN/RST/URG, no SACK blocks (those report loss), acknowledging new
// data (more than one byte: a single byte is most likely a FIN, whose
// acknowledgement lets the peer finish closing), and less than two full
// segments of it (as Linux, the link still acknowledges at least every
// second full segment of a bulk transfer).
// Window updates and duplicate ACKs acknowledge nothing new and go at once.

// ackDelay bounds how long an ACK is held: long enough for a busy server
// under emulation to answer (2 ms saved almost nothing: the ACKs left
// before the responses), half Linux's 40 ms minimum, far below the peer's
// retransmission timeout (200 ms or more).
const ackDelay = 20 * time.Millisecond

// maxFlows bounds the per-connection state; beyond it the state is dropped
// (each connection's next ACK then simply goes at once).
const maxFlows = 4096

// flowKey names a connection by its addresses and ports as the sender
// sees them (IPv4 addresses in the first 4 bytes of each half).
type flowKey struct {
	src, dst         [16]byte
	srcPort, dstPort uint16
}

type flow struct {
	acked uint32 // acknowledgement number last put on the wire
	held  []byte // the ACK held back, or nil
	due   time.Time
}

type ackDelayer struct {
	mss  int
	send func(frame []byte) error

	mu    sync.Mutex
	flows map[flowKey]*flow
	timer *time.Timer
}

func newAckDelayer(mtu int, send func([]byte) error) *ackDelayer {
	d := &ackDelayer{mss: mtu - 40, send: send, flows: map[flowKey]*flow{}}
	d.timer = time.AfterFunc(time.Hour, d.flush)
	d.timer.Stop()
	return d
}

// tcpSegment is what the link needs of an outgoing TCP segment.
type tcpSegment struct {
	key        flowKey
	flags      uint8
	ack        uint32
	payload    int
	sackBlocks bool
}

// TCP flags.
const (
	tcpFIN = 1 << 0
	tcpSYN = 1 << 1
	tcpRST = 1 << 2
	tcpPSH = 1 << 3
	tcpACK = 1 << 4
	tcpURG = 1 << 5
)

// parseTCP reads the TCP segment in an Ethernet frame; ok is false for
// anything else (other protocols, IP options after IPv6's fixed header,
// fragments, truncated headers).
func parseTCP(frame []byte) (s tcpSegment, ok bool) {
	if len(frame) < 14 {
		return s, false
	}
	var ip []byte
	var tcp []byte
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		ip = frame[14:]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 6 {
			return s, false
		}
		if binary.BigEndian.Uint16(ip[6:])&0x3FFF != 0 { // MF or offset: a fragment
			return s, false
		}
		ihl := int(ip[0]&0xF) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) {
			return s, false
		}
		copy(s.key.src[:], ip[12:16])
		copy(s.key.dst[:], ip[16:20])
		tcp = ip[ihl:total]
	case 0x86DD:
		ip = frame[14:]
		if len(ip) < 40 || ip[6] != 6 {
			return s, false
		}
		total := 40 + int(binary.BigEndian.Uint16(ip[4:]))
		if total > len(ip) {
			return s, false
		}
		copy(s.key.src[:], ip[8:24])
		copy(s.key.dst[:], ip[24:40])
		tcp = ip[40:total]
	default:
		return s, false
	}
	if len(tcp) < 20 {
		return s, false
	}
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return s, false
	}
	s.key.srcPort = binary.BigEndian.Uint16(tcp[0:])
	s.key.dstPort = binary.BigEndian.Uint16(tcp[2:])
	s.ack = binary.BigEndian.Uint32(tcp[8:])
	s.flags = tcp[13]
	s.payload = len(tcp) - off
	for opts := tcp[20:off]; len(opts) > 0; {
		switch kind := opts[0]; {
		case kind == 0: // end of options
			opts = nil
		case kind == 1: // no-op
			opts = opts[1:]
		case len(opts) < 2 || int(opts[1]) < 2 || int(opts[1]) > len(opts):
			return s, false
		default:
			if kind == 5 { // SACK blocks
				s.sackBlocks = true
			}
			opts = opts[opts[1]:]
		}
	}
	return s, true
}

// filter decides about one outgoing frame: true means send it now. A held
// ACK that the frame makes redundant is dropped; one it must not overtake
// (the frame carries no acknowledgement) is sent first.
func (d *ackDelayer) filter(frame []byte) bool {
	s, ok := parseTCP(frame)
	if !ok {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.flows[s.key]
	if f == nil {
		if len(d.flows) >= maxFlows {
			d.flushAllLocked()
			clear(d.flows)
		}
		f = &flow{}
		d.flows[s.key] = f
		if s.flags&tcpACK != 0 {
			f.acked = s.ack
		}
		return true // nothing known of this connection yet
	}
	if s.flags&tcpACK == 0 {
		// A SYN or a bare RST: it does not replace the held ACK.
		d.sendHeldLocked(f)
		return true
	}
	pure := s.payload == 0 && s.flags&^(tcpACK|tcpPSH) == 0 && !s.sackBlocks
	newData := s.ack - f.acked // modulo 2^32, as sequence numbers are
	// newData == 1 is most likely the peer's FIN (a byte of sequence
	// space without data): acknowledge that at once, so the peer's
	// close completes without waiting for the delay.
	if pure && newData > 1 && newData < 1<<31 && int(newData) < 2*d.mss {
		if f.held == nil {
			f.due = time.Now().Add(ackDelay)
			d.timer.Reset(ackDelay)
		}
		f.held = frame // the newer ACK replaces an older one; the deadline stays
		return false
	}
	// Data, a FIN, or an ACK that must go now: it acknowledges at least
	// what the held ACK did, which is therefore dropped.
	f.held = nil
	f.acked = s.ack
	if s.flags&(tcpFIN|tcpRST) != 0 {
		delete(d.flows, s.key)
	}
	return true
}

// flush sends the held ACKs whose time has come (the timer calls it).
func (d *ackDelayer) flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	var next time.Duration
	for _, f := range d.flows {
		if f.held == nil {
			continue
		}
		if wait := f.due.Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		d.sendHeldLocked(f)
	}
	if next > 0 {
		d.timer.Reset(next)
	}
}

func (d *ackDelayer) flushAllLocked() {
	for _, f := range d.flows {
		d.sendHeldLocked(f)
	}
}

// sendHeldLocked puts f's held ACK on the wire. The device copies the
// frame and blocks only while its ring is full, so sending under the lock
// keeps a connection's segments in order.
func (d *ackDelayer) sendHeldLocked(f *flow) {
	if f.held == nil {
		return
	}
	if s, ok := parseTCP(f.held); ok {
		f.acked = s.ack
	}
	d.send(f.held)
	f.held = nil
}
