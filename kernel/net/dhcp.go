package net

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// A small DHCPv4 client (RFC 2131, options from RFC 2132): DISCOVER,
// OFFER, REQUEST, ACK, with retransmission and NAK handling. It is enough
// for QEMU's user networking (slirp answers with 10.0.2.15/24, router
// 10.0.2.2, DNS 10.0.2.3) and for ordinary DHCP servers on a bridge.
// Lease renewal is not implemented: QEMU's leases last a day.

// DHCP message types (option 53).
const (
	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5
	dhcpNak      = 6
)

// DHCP option codes.
const (
	optPad          = 0
	optSubnetMask   = 1
	optRouter       = 3
	optDNS          = 6
	optHostname     = 12
	optDomainName   = 15
	optRequestedIP  = 50
	optLeaseTime    = 51
	optMessageType  = 53
	optServerID     = 54
	optParamRequest = 55
	optEnd          = 255
)

const (
	dhcpClientPort = 68
	dhcpServerPort = 67
	// bootpHeaderLen is the fixed BOOTP part before the magic cookie.
	bootpHeaderLen = 236
)

var dhcpMagic = []byte{99, 130, 83, 99}

// Lease is what the DHCP server granted.
type Lease struct {
	Addr     netip.Prefix // address and subnet
	Router   netip.Addr   // default gateway (invalid if none)
	DNS      []netip.Addr
	Domain   string
	Server   netip.Addr // the server's identifier
	Duration time.Duration
}

// DHCPConfig tunes the client; the zero value is sensible.
type DHCPConfig struct {
	// Timeout is how long to wait for each answer before sending again
	// (doubling each time, up to 8× Timeout). Default 1 s.
	Timeout time.Duration
	// Hostname, if set, is sent to the server (option 12).
	Hostname string
}

// ConfigureDHCP obtains a lease on the Ethernet interface and applies it
// (address, default route, DNS), like ConfigureStatic. It gives up when
// ctx is done.
func (s *Stack) ConfigureDHCP(ctx context.Context, cfg DHCPConfig) (Lease, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	s.mu.Lock()
	attached := s.attached
	s.mu.Unlock()
	if !attached {
		return Lease{}, errors.New("net: no Ethernet device attached")
	}
	// Until it has an address the interface must still send from
	// 0.0.0.0 and accept broadcasts: give it 0.0.0.0 temporarily, the
	// way RFC 2131 §4.1 expects a client to send.
	unspecified := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: header.IPv4Any, PrefixLen: 0}}
	if err := s.ns.AddProtocolAddress(ethernetNIC, unspecified, stack.AddressProperties{}); err != nil {
		return Lease{}, fmt.Errorf("net: dhcp: %s", err)
	}
	defer s.ns.RemoveAddress(ethernetNIC, header.IPv4Any)

	so, err := s.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return Lease{}, err
	}
	defer so.Close()
	so.ep.SocketOptions().SetBroadcast(true)
	if err := so.ep.SocketOptions().SetBindToDevice(int32(ethernetNIC)); err != nil {
		return Lease{}, errno(err)
	}
	if err := so.Bind(SockaddrInet4([4]byte{}, dhcpClientPort)); err != nil {
		return Lease{}, fmt.Errorf("net: dhcp: bind: %v", err)
	}
	mac := so.stack.ns.NICInfo()[ethernetNIC].LinkAddress

	c := &dhcpClient{so: so, mac: []byte(mac), cfg: cfg}
	for {
		lease, err := c.exchange(ctx)
		if err == errNak {
			continue // RFC 2131 §3.1.5: start over with a DISCOVER
		}
		if err != nil {
			return Lease{}, err
		}
		st := StaticConfig{Addr: lease.Addr, Gateway: lease.Router, DNS: lease.DNS}
		if lease.Domain != "" {
			st.Search = []string{lease.Domain}
		}
		if err := s.ConfigureStatic(st); err != nil {
			return Lease{}, err
		}
		return lease, nil
	}
}

var errNak = errors.New("dhcp: NAK")

type dhcpClient struct {
	so  *Socket
	mac []byte
	cfg DHCPConfig
	xid uint32
}

// exchange runs DISCOVER/OFFER then REQUEST/ACK once.
func (c *dhcpClient) exchange(ctx context.Context) (Lease, error) {
	var x [4]byte
	rand.Read(x[:])
	c.xid = binary.BigEndian.Uint32(x[:])

	offer, err := c.transact(ctx, c.message(dhcpDiscover, nil, nil), dhcpOffer)
	if err != nil {
		return Lease{}, err
	}
	yiaddr := offer.yiaddr()
	server := offer.option(optServerID)
	ack, err := c.transact(ctx, c.message(dhcpRequest, yiaddr[:], server), dhcpAck)
	if err != nil {
		return Lease{}, err
	}
	return ack.lease()
}

// transact broadcasts msg until a reply of type want (or a NAK) with our
// transaction id arrives, with exponential back-off.
func (c *dhcpClient) transact(ctx context.Context, msg []byte, want byte) (dhcpPacket, error) {
	bcast := SockaddrInet4([4]byte{255, 255, 255, 255}, dhcpServerPort)
	wait := c.cfg.Timeout
	buf := make([]byte, 1500)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("net: dhcp: %w", err)
		}
		if _, err := c.so.SendTo(msg, 0, bcast); err != nil {
			return nil, fmt.Errorf("net: dhcp: send: %v", err)
		}
		deadline := time.Now().Add(wait)
		for {
			left := time.Until(deadline)
			if d, ok := ctx.Deadline(); ok && time.Until(d) < left {
				left = time.Until(d)
			}
			if left <= 0 {
				break
			}
			c.so.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, putTimeval(left))
			n, _, err := c.so.RecvFrom(buf, 0)
			if err == syscall.EAGAIN {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("net: dhcp: receive: %v", err)
			}
			p := dhcpPacket(buf[:n])
			if !p.valid() || p.xid() != c.xid || !bytes.Equal(p.chaddr(), c.mac) {
				continue // someone else's conversation
			}
			switch t := p.msgType(); {
			case t == want:
				return append(dhcpPacket(nil), p...), nil
			case t == dhcpNak:
				return nil, errNak
			}
		}
		if wait < 8*c.cfg.Timeout {
			wait *= 2
		}
	}
}

// message builds a DHCP client message. Asking for broadcast replies
// (flag 0x8000) matters: before the lease is applied the stack would drop
// a unicast to an address it does not have yet.
func (c *dhcpClient) message(typ byte, requested, server []byte) []byte {
	b := make([]byte, bootpHeaderLen, 300)
	b[0], b[1], b[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte address
	binary.BigEndian.PutUint32(b[4:], c.xid)
	binary.BigEndian.PutUint16(b[10:], 0x8000)
	copy(b[28:], c.mac)
	b = append(b, dhcpMagic...)
	b = append(b, optMessageType, 1, typ)
	if requested != nil {
		b = append(b, optRequestedIP, 4)
		b = append(b, requested...)
	}
	if server != nil {
		b = append(b, optServerID, byte(len(server)))
		b = append(b, server...)
	}
	if h := c.cfg.Hostname; h != "" && len(h) < 256 {
		b = append(b, optHostname, byte(len(h)))
		b = append(b, h...)
	}
	b = append(b, optParamRequest, 5, optSubnetMask, optRouter, optDNS, optDomainName, optLeaseTime)
	b = append(b, optEnd)
	for len(b) < 300 { // BOOTP's minimum size; some servers insist
		b = append(b, optPad)
	}
	return b
}

// dhcpPacket is a received DHCP message.
type dhcpPacket []byte

func (p dhcpPacket) valid() bool {
	return len(p) >= bootpHeaderLen+4 && p[0] == 2 && bytes.Equal(p[bootpHeaderLen:bootpHeaderLen+4], dhcpMagic)
}

func (p dhcpPacket) xid() uint32    { return binary.BigEndian.Uint32(p[4:]) }
func (p dhcpPacket) chaddr() []byte { return p[28:34] }
func (p dhcpPacket) yiaddr() [4]byte {
	return [4]byte(p[16:20])
}

// option returns the value of option code, or nil.
func (p dhcpPacket) option(code byte) []byte {
	o := p[bootpHeaderLen+4:]
	for len(o) > 0 {
		switch o[0] {
		case optPad:
			o = o[1:]
			continue
		case optEnd:
			return nil
		}
		if len(o) < 2 || len(o) < 2+int(o[1]) {
			return nil
		}
		if o[0] == code {
			return o[2 : 2+o[1]]
		}
		o = o[2+o[1]:]
	}
	return nil
}

func (p dhcpPacket) msgType() byte {
	if v := p.option(optMessageType); len(v) == 1 {
		return v[0]
	}
	return 0
}

// lease extracts the configuration from an ACK.
func (p dhcpPacket) lease() (Lease, error) {
	addr := netip.AddrFrom4(p.yiaddr())
	if addr.IsUnspecified() {
		return Lease{}, errors.New("net: dhcp: ACK without an address")
	}
	bits := 24 // a class C guess when the server sends no mask
	if m := p.option(optSubnetMask); len(m) == 4 {
		ones := 0
		for _, b := range m {
			for i := 7; i >= 0 && b&(1<<i) != 0; i-- {
				ones++
			}
		}
		bits = ones
	}
	l := Lease{Addr: netip.PrefixFrom(addr, bits)}
	if r := p.option(optRouter); len(r) >= 4 {
		l.Router = netip.AddrFrom4([4]byte(r[:4]))
	}
	d := p.option(optDNS)
	for len(d) >= 4 {
		l.DNS = append(l.DNS, netip.AddrFrom4([4]byte(d[:4])))
		d = d[4:]
	}
	if s := p.option(optServerID); len(s) == 4 {
		l.Server = netip.AddrFrom4([4]byte(s))
	}
	if t := p.option(optLeaseTime); len(t) == 4 {
		l.Duration = time.Duration(binary.BigEndian.Uint32(t)) * time.Second
	}
	l.Domain = string(p.option(optDomainName))
	return l, nil
}
