package net

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dhcpServer is a tiny DHCP server in the style of QEMU's slirp: it offers
// 10.0.2.15/24 with router 10.0.2.2 and DNS 10.0.2.3, and broadcasts its
// replies. nakFirst makes it refuse the first REQUEST.
type dhcpServer struct {
	so       *Socket
	mu       sync.Mutex
	seen     []byte // message types received
	nakFirst bool
}

func startDHCPServer(t *testing.T, s *Stack, nakFirst bool) *dhcpServer {
	so := mustSocket(t, s, syscall.AF_INET, syscall.SOCK_DGRAM)
	so.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_BROADCAST, putInt(1))
	if err := so.Bind(SockaddrInet4([4]byte{}, dhcpServerPort)); err != nil {
		t.Fatal(err)
	}
	srv := &dhcpServer{so: so, nakFirst: nakFirst}
	go srv.serve()
	return srv
}

func (srv *dhcpServer) types() []byte {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]byte(nil), srv.seen...)
}

func (srv *dhcpServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, _, err := srv.so.RecvFrom(buf, 0)
		if err != nil || n == 0 {
			return // socket closed at test end
		}
		req := buf[:n]
		if len(req) < bootpHeaderLen+4 || req[0] != 1 {
			continue
		}
		// Reuse the client's packet parser: flip op to make it valid.
		p := dhcpPacket(append([]byte{2}, req[1:]...))
		typ := p.msgType()
		srv.mu.Lock()
		srv.seen = append(srv.seen, typ)
		nak := srv.nakFirst && typ == dhcpRequest
		if nak {
			srv.nakFirst = false
		}
		srv.mu.Unlock()

		reply := make([]byte, bootpHeaderLen)
		reply[0], reply[1], reply[2] = 2, 1, 6
		copy(reply[4:8], req[4:8])     // xid
		copy(reply[10:12], req[10:12]) // flags
		copy(reply[28:44], req[28:44]) // chaddr
		var rtype byte
		switch {
		case nak:
			rtype = dhcpNak
		case typ == dhcpDiscover:
			rtype = dhcpOffer
		case typ == dhcpRequest:
			if ip := p.option(optRequestedIP); string(ip) != string([]byte{10, 0, 2, 15}) {
				rtype = dhcpNak
			} else {
				rtype = dhcpAck
			}
		default:
			continue
		}
		if rtype != dhcpNak {
			copy(reply[16:20], []byte{10, 0, 2, 15})
		}
		reply = append(reply, dhcpMagic...)
		reply = append(reply, optMessageType, 1, rtype, optServerID, 4, 10, 0, 2, 2)
		if rtype != dhcpNak {
			reply = append(reply,
				optSubnetMask, 4, 255, 255, 255, 0,
				optRouter, 4, 10, 0, 2, 2,
				optDNS, 8, 10, 0, 2, 3, 8, 8, 8, 8,
				optDomainName, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
				optLeaseTime, 4, 0, 1, 0x51, 0x80) // 86400 s
		}
		reply = append(reply, optEnd)
		srv.so.SendTo(reply, 0, SockaddrInet4([4]byte{255, 255, 255, 255}, dhcpClientPort))
	}
}

// newDHCPPair wires an unconfigured client stack to a server stack at
// 10.0.2.2/24.
func newDHCPPair(t *testing.T) (client, server *Stack, cdev *wireDev) {
	dc, ds := newWire(t)
	client, _ = NewStack()
	server, _ = NewStack()
	t.Cleanup(client.Close)
	t.Cleanup(server.Close)
	client.AttachDevice(dc)
	server.AttachDevice(ds)
	if err := server.ConfigureStatic(StaticConfig{Addr: netip.MustParsePrefix("10.0.2.2/24")}); err != nil {
		t.Fatal(err)
	}
	return client, server, dc
}

func TestDHCPAgainstSlirpLikeServer(t *testing.T) {
	client, server, _ := newDHCPPair(t)
	srv := startDHCPServer(t, server, false)
	client.SetHostname("guest")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lease, err := client.ConfigureDHCP(ctx, DHCPConfig{Timeout: 200 * time.Millisecond, Hostname: "guest"})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Addr != netip.MustParsePrefix("10.0.2.15/24") || lease.Router != netip.MustParseAddr("10.0.2.2") ||
		len(lease.DNS) != 2 || lease.DNS[0] != netip.MustParseAddr("10.0.2.3") ||
		lease.Duration != 24*time.Hour || lease.Domain != "example" {
		t.Fatalf("lease %+v", lease)
	}
	if got := srv.types(); string(got) != string([]byte{dhcpDiscover, dhcpRequest}) {
		t.Fatalf("server saw message types %v", got)
	}
	if client.Addr() != lease.Addr {
		t.Fatalf("address not applied: %v", client.Addr())
	}
	rc := string(client.ResolvConf())
	if !strings.Contains(rc, "nameserver 10.0.2.3\nnameserver 8.8.8.8\n") || !strings.Contains(rc, "search example\n") {
		t.Fatalf("resolv.conf:\n%s", rc)
	}
	if !strings.Contains(string(client.Hosts()), "10.0.2.15\tguest") {
		t.Fatalf("hosts:\n%s", client.Hosts())
	}

	// The configured client reaches the server, and (through the
	// default route) an off-link address is routed to the gateway.
	l := listener(t, server, [4]byte{10, 0, 2, 2}, 80, 4)
	_ = l
	c := mustSocket(t, client, syscall.AF_INET, syscall.SOCK_STREAM)
	if err := c.Connect(SockaddrInet4([4]byte{10, 0, 2, 2}, 80)); err != nil {
		t.Fatalf("connect after DHCP: %v", err)
	}
	name, _ := c.GetSockName()
	if addr, _, _ := ParseSockaddr(name); string(addr) != string([]byte{10, 0, 2, 15}) {
		t.Fatalf("client address %v", addr)
	}
	// The temporary 0.0.0.0 address is gone.
	for _, a := range client.Netstack().NICInfo()[ethernetNIC].ProtocolAddresses {
		if a.AddressWithPrefix.Address.Unspecified() {
			t.Fatalf("0.0.0.0 left on the interface: %v", a)
		}
	}
}

func TestDHCPRetransmitsAndRestartsAfterNak(t *testing.T) {
	client, server, cdev := newDHCPPair(t)
	srv := startDHCPServer(t, server, true)
	// Lose the first DISCOVER on the wire.
	dropped := 0
	cdev.mu.Lock()
	cdev.drop = func(f []byte) bool {
		// IPv4 UDP to port 67 is at Ethernet 14 + IP 20 + 2.
		if len(f) > 40 && f[23] == 17 && binary.BigEndian.Uint16(f[36:]) == dhcpServerPort && dropped == 0 {
			dropped++
			return true
		}
		return false
	}
	cdev.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.ConfigureDHCP(ctx, DHCPConfig{Timeout: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// DISCOVER (lost, not seen), DISCOVER, REQUEST (NAK), DISCOVER, REQUEST.
	if got := srv.types(); string(got) != string([]byte{dhcpDiscover, dhcpRequest, dhcpDiscover, dhcpRequest}) || dropped != 1 {
		t.Fatalf("server saw %v, dropped %d", got, dropped)
	}
}

func TestDHCPGivesUpWithContext(t *testing.T) {
	client, _, _ := newDHCPPair(t) // no server
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := client.ConfigureDHCP(ctx, DHCPConfig{Timeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("DHCP succeeded without a server")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestStaticConfigAndResolvConf(t *testing.T) {
	a, _, _, _ := newPair(t)
	if err := a.ConfigureStatic(StaticConfig{
		Addr:    netip.MustParsePrefix("10.0.0.1/24"),
		Gateway: netip.MustParseAddr("10.0.0.254"),
		DNS:     []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2.2.2.2"), netip.MustParseAddr("3.3.3.3"), netip.MustParseAddr("4.4.4.4")},
	}); err != nil {
		t.Fatal(err)
	}
	rc := string(a.ResolvConf())
	if strings.Count(rc, "nameserver") != 3 || strings.Contains(rc, "4.4.4.4") {
		t.Fatalf("resolv.conf must list at most 3 servers:\n%s", rc)
	}
	rt := a.Netstack().GetRouteTable()
	last := rt[len(rt)-1]
	if last.Destination.Prefix() != 0 || last.Gateway.String() != "10.0.0.254" {
		t.Fatalf("default route %v in %v", last, rt)
	}
	if err := a.ConfigureStatic(StaticConfig{Addr: netip.MustParsePrefix("10.0.0.1/24"), Gateway: netip.MustParseAddr("fe80::1")}); err == nil {
		t.Fatal("mixed-family gateway accepted")
	}
	if err := a.SetHostname(strings.Repeat("x", 65)); err == nil {
		t.Fatal("65-byte hostname accepted")
	}
}
