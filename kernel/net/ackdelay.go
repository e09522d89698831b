package net

import (
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
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
// sees them.
type flowKey struct {
	src, dst         tcpip.Address
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
	flags      header.TCPFlags
	ack        uint32
	payload    int
	sackBlocks bool
}

// parseTCP reads the TCP segment in an Ethernet frame with netstack's
// header package; ok is false for anything else (other protocols, IPv6
// extension headers, fragments, truncated headers).
func parseTCP(frame []byte) (s tcpSegment, ok bool) {
	if len(frame) < header.EthernetMinimumSize {
		return s, false
	}
	var tcp header.TCP
	switch b := frame[header.EthernetMinimumSize:]; header.Ethernet(frame).Type() {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(b)
		if !ip.IsValid(len(b)) || ip.Protocol() != uint8(header.TCPProtocolNumber) || ip.More() || ip.FragmentOffset() != 0 {
			return s, false
		}
		s.key.src, s.key.dst = ip.SourceAddress(), ip.DestinationAddress()
		tcp = header.TCP(b[ip.HeaderLength():ip.TotalLength()])
	case header.IPv6ProtocolNumber:
		ip := header.IPv6(b)
		if !ip.IsValid(len(b)) || ip.NextHeader() != uint8(header.TCPProtocolNumber) {
			return s, false
		}
		s.key.src, s.key.dst = ip.SourceAddress(), ip.DestinationAddress()
		tcp = header.TCP(b[header.IPv6MinimumSize : header.IPv6MinimumSize+int(ip.PayloadLength())])
	default:
		return s, false
	}
	if len(tcp) < header.TCPMinimumSize || int(tcp.DataOffset()) < header.TCPMinimumSize || int(tcp.DataOffset()) > len(tcp) {
		return s, false
	}
	s.key.srcPort, s.key.dstPort = tcp.SourcePort(), tcp.DestinationPort()
	s.ack = tcp.AckNumber()
	s.flags = tcp.Flags()
	s.payload = len(tcp) - int(tcp.DataOffset())
	s.sackBlocks = len(header.ParseTCPOptions(tcp.Options()).SACKBlocks) > 0
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
		if s.flags.Contains(header.TCPFlagAck) {
			f.acked = s.ack
		}
		return true // nothing known of this connection yet
	}
	if !s.flags.Contains(header.TCPFlagAck) {
		// A SYN or a bare RST: it does not replace the held ACK.
		d.sendHeldLocked(f)
		return true
	}
	pure := s.payload == 0 && s.flags&^(header.TCPFlagAck|header.TCPFlagPsh) == 0 && !s.sackBlocks
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
	if s.flags.Intersects(header.TCPFlagFin | header.TCPFlagRst) {
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
