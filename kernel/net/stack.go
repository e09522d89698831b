package net

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// NIC numbers. Linux numbers lo 1 and the first Ethernet interface 2; doing
// the same keeps if_nametoindex answers familiar.
const (
	loopbackNIC tcpip.NICID = 1
	ethernetNIC tcpip.NICID = 2
)

// Stack is one TCP/IP stack with its host configuration. The kernel has
// exactly one; tests make several and wire them together.
type Stack struct {
	ns *stack.Stack

	mu       sync.Mutex
	attached bool
	ipv4     netip.Prefix // configured Ethernet IPv4 address, if any
	gateway  netip.Addr
	ipv6     []netip.Prefix
	dns      []netip.Addr
	search   []string
	hostname string
}

// NewStack creates a stack with IPv4, IPv6, ARP, TCP, UDP and ICMP and a
// configured loopback interface (127.0.0.1/8 and ::1).
func NewStack() (*Stack, error) { return NewStackWithClock(nil) }

// NewStackWithClock is NewStack with netstack's clock (nil: the standard
// library's).
func NewStackWithClock(clock tcpip.Clock) (*Stack, error) {
	ns := stack.New(stack.Options{
		Clock: clock,
		NetworkProtocols: []stack.NetworkProtocolFactory{
			ipv4.NewProtocol,
			ipv6.NewProtocolWithOptions(ipv6.Options{
				// A link-local address from the MAC, as Linux does,
				// so NDP works on the Ethernet interface.
				AutoGenLinkLocal: true,
			}),
			arp.NewProtocol,
		},
		TransportProtocols: []stack.TransportProtocolFactory{
			tcp.NewProtocol,
			udp.NewProtocol,
			icmp.NewProtocol4,
			icmp.NewProtocol6,
		},
		// Deliver packets to our own addresses without a round trip
		// through the wire, as Linux's loopback routing does.
		HandleLocal: true,
	})
	// SACK is on by default in Linux and makes loss recovery far
	// cheaper; receive-buffer auto-tuning keeps bulk transfers fast.
	sack := tcpip.TCPSACKEnabled(true)
	ns.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	mod := tcpip.TCPModerateReceiveBufferOption(true)
	ns.SetTransportProtocolOption(tcp.ProtocolNumber, &mod)

	s := &Stack{ns: ns, hostname: "stardust"}
	if err := ns.CreateNIC(loopbackNIC, loopback.New()); err != nil {
		return nil, fmt.Errorf("net: loopback NIC: %s", err)
	}
	for _, p := range []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/8"),
		netip.MustParsePrefix("::1/128"),
	} {
		if err := s.addAddress(loopbackNIC, p); err != nil {
			return nil, err
		}
	}
	ns.SetRouteTable(s.routes())
	return s, nil
}

// Netstack returns the underlying gVisor stack, for diagnostics and tests.
func (s *Stack) Netstack() *stack.Stack { return s.ns }

// Close shuts the stack down, aborting every endpoint.
func (s *Stack) Close() {
	s.ns.Close()
	s.ns.Wait()
}

// AttachDevice adds dev as the Ethernet interface (eth0). There is at most
// one. It has no address until ConfigureStatic or ConfigureDHCP runs, but
// it has its IPv6 link-local address at once.
func (s *Stack) AttachDevice(dev Device) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attached {
		return errors.New("net: an Ethernet device is already attached")
	}
	if err := s.ns.CreateNIC(ethernetNIC, newLinkEndpoint(dev)); err != nil {
		return fmt.Errorf("net: creating NIC: %s", err)
	}
	s.attached = true
	s.ns.SetRouteTable(s.routesLocked())
	return nil
}

// StaticConfig is a manual configuration of the Ethernet interface, as
// given by `-net-ip` or the kernel command line.
type StaticConfig struct {
	Addr    netip.Prefix // e.g. 10.0.2.15/24 (IPv4) or an IPv6 prefix
	Gateway netip.Addr   // default router; may be invalid (no default route)
	DNS     []netip.Addr // name servers for resolv.conf
	Search  []string     // search domains for resolv.conf
}

// ConfigureStatic sets the Ethernet interface's address, the default route
// and the name servers, replacing an earlier IPv4 configuration.
func (s *Stack) ConfigureStatic(c StaticConfig) error {
	if !c.Addr.IsValid() {
		return errors.New("net: static configuration needs an address")
	}
	if c.Gateway.IsValid() && c.Gateway.Is4() != c.Addr.Addr().Is4() {
		return errors.New("net: gateway and address families differ")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.attached {
		return errors.New("net: no Ethernet device attached")
	}
	if c.Addr.Addr().Is4() {
		if s.ipv4.IsValid() && s.ipv4 != c.Addr {
			s.ns.RemoveAddress(ethernetNIC, addrFromNetip(s.ipv4.Addr()))
		}
		if s.ipv4 != c.Addr {
			if err := s.addAddress(ethernetNIC, c.Addr); err != nil {
				return err
			}
		}
		s.ipv4 = c.Addr
		s.gateway = c.Gateway
	} else {
		if err := s.addAddress(ethernetNIC, c.Addr); err != nil {
			return err
		}
		s.ipv6 = append(s.ipv6, c.Addr)
		if c.Gateway.IsValid() && !s.gateway.IsValid() {
			s.gateway = c.Gateway
		}
	}
	if c.DNS != nil {
		s.dns = append([]netip.Addr(nil), c.DNS...)
	}
	if c.Search != nil {
		s.search = append([]string(nil), c.Search...)
	}
	s.ns.SetRouteTable(s.routesLocked())
	return nil
}

// Addr returns the Ethernet interface's configured IPv4 address.
func (s *Stack) Addr() netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ipv4
}

// SetHostname sets the name uname(2) and gethostname report.
func (s *Stack) SetHostname(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("net: hostname must be 1 to 64 bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostname = name
	return nil
}

// Hostname returns the host name.
func (s *Stack) Hostname() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostname
}

// SetDNS replaces the name servers and search domains.
func (s *Stack) SetDNS(servers []netip.Addr, search []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dns = append([]netip.Addr(nil), servers...)
	s.search = append([]string(nil), search...)
}

// ResolvConf returns the contents of /etc/resolv.conf for the current
// configuration, in the format Go's pure-Go resolver parses. With no name
// server configured it names none, and Go falls back to its default
// (localhost), failing lookups quickly rather than hanging.
func (s *Stack) ResolvConf() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("# Generated by Stardust.\n")
	if len(s.search) > 0 {
		b.WriteString("search " + strings.Join(s.search, " ") + "\n")
	}
	// resolv.conf allows at most three servers (MAXNS); more are ignored.
	for i, a := range s.dns {
		if i == 3 {
			break
		}
		b.WriteString("nameserver " + a.String() + "\n")
	}
	// Fail over quickly under emulation rather than waiting 5 s per try.
	b.WriteString("options timeout:2 attempts:2\n")
	return []byte(b.String())
}

// Hosts returns the contents of /etc/hosts: loopback and the host name.
func (s *Stack) Hosts() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
	if s.ipv4.IsValid() {
		b.WriteString(s.ipv4.Addr().String() + "\t" + s.hostname + "\n")
	} else {
		b.WriteString("127.0.1.1\t" + s.hostname + "\n")
	}
	return []byte(b.String())
}

func (s *Stack) addAddress(nic tcpip.NICID, p netip.Prefix) error {
	proto := ipv4.ProtocolNumber
	if p.Addr().Is6() {
		proto = ipv6.ProtocolNumber
	}
	pa := tcpip.ProtocolAddress{
		Protocol: proto,
		AddressWithPrefix: tcpip.AddressWithPrefix{
			Address:   addrFromNetip(p.Addr()),
			PrefixLen: p.Bits(),
		},
	}
	if err := s.ns.AddProtocolAddress(nic, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("net: adding %v: %s", p, err)
	}
	return nil
}

func (s *Stack) routes() []tcpip.Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.routesLocked()
}

// routesLocked builds the whole routing table from the configuration, most
// specific routes first as netstack picks the first match: loopback, the
// on-link subnets, then the default routes.
func (s *Stack) routesLocked() []tcpip.Route {
	var rt []tcpip.Route
	add := func(p netip.Prefix, gw netip.Addr, nic tcpip.NICID) {
		sub, err := tcpip.NewSubnet(addrFromNetip(p.Masked().Addr()),
			tcpip.MaskFromBytes(prefixMask(p)))
		if err != nil {
			return
		}
		r := tcpip.Route{Destination: sub, NIC: nic}
		if gw.IsValid() {
			r.Gateway = addrFromNetip(gw)
		}
		rt = append(rt, r)
	}
	add(netip.MustParsePrefix("127.0.0.0/8"), netip.Addr{}, loopbackNIC)
	add(netip.MustParsePrefix("::1/128"), netip.Addr{}, loopbackNIC)
	if !s.attached {
		return rt
	}
	if s.ipv4.IsValid() {
		add(s.ipv4.Masked(), netip.Addr{}, ethernetNIC)
	}
	for _, p := range s.ipv6 {
		add(p.Masked(), netip.Addr{}, ethernetNIC)
	}
	add(netip.MustParsePrefix("fe80::/64"), netip.Addr{}, ethernetNIC)
	if s.gateway.IsValid() {
		if s.gateway.Is4() {
			add(netip.MustParsePrefix("0.0.0.0/0"), s.gateway, ethernetNIC)
		} else {
			add(netip.MustParsePrefix("::/0"), s.gateway, ethernetNIC)
		}
	} else if s.ipv4.IsValid() {
		// No router: everything is on-link (a bridged test network).
		add(netip.MustParsePrefix("0.0.0.0/0"), netip.Addr{}, ethernetNIC)
	}
	return rt
}

func prefixMask(p netip.Prefix) []byte {
	n := p.Addr().BitLen() / 8
	m := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

func addrFromNetip(a netip.Addr) tcpip.Address {
	if a.Is4() {
		return tcpip.AddrFrom4(a.As4())
	}
	return tcpip.AddrFrom16(a.As16())
}

func netipFromAddr(a tcpip.Address) netip.Addr {
	switch a.Len() {
	case header.IPv4AddressSize:
		return netip.AddrFrom4(a.As4())
	case header.IPv6AddressSize:
		return netip.AddrFrom16(a.As16())
	}
	return netip.Addr{}
}
