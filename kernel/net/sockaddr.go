package net

import (
	"encoding/binary"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Linux socket address layouts (little-endian family, big-endian port):
//
//	sockaddr_in  (16 bytes): family u16, port be16, addr [4]byte, zero [8]byte
//	sockaddr_in6 (28 bytes): family u16, port be16, flowinfo be32,
//	                         addr [16]byte, scope_id u32
const (
	sizeofSockaddrIn  = 16
	sizeofSockaddrIn6 = 28
)

// parseSockaddr decodes a sockaddr given to bind, connect or sendto on a
// socket of the given family. An unspecified address (0.0.0.0 or ::)
// becomes the empty tcpip.Address, which netstack reads as "any".
//
// An AF_INET6 socket accepts IPv4-mapped addresses (::ffff:a.b.c.d): they
// stay 16 bytes long and netstack's dual-stack endpoints treat them as
// IPv4 traffic, exactly like Linux.
func parseSockaddr(family int, b []byte) (tcpip.FullAddress, error) {
	if len(b) < 2 {
		return tcpip.FullAddress{}, syscall.EINVAL
	}
	af := int(binary.LittleEndian.Uint16(b))
	switch {
	case af == syscall.AF_UNSPEC:
		// Used by connect to dissolve an association; callers check.
		return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
	case af != family:
		// Linux: an AF_INET socket given an AF_INET6 address (or
		// vice versa) fails with EAFNOSUPPORT (EINVAL for short ones).
		return tcpip.FullAddress{}, syscall.EAFNOSUPPORT
	}
	var fa tcpip.FullAddress
	switch af {
	case syscall.AF_INET:
		if len(b) < sizeofSockaddrIn {
			return fa, syscall.EINVAL
		}
		fa.Port = binary.BigEndian.Uint16(b[2:])
		fa.Addr = tcpip.AddrFrom4Slice(b[4:8])
		if fa.Addr == header.IPv4Any {
			fa.Addr = tcpip.Address{}
		}
	case syscall.AF_INET6:
		if len(b) < sizeofSockaddrIn6 {
			return fa, syscall.EINVAL
		}
		fa.Port = binary.BigEndian.Uint16(b[2:])
		fa.Addr = tcpip.AddrFrom16Slice(b[8:24])
		if fa.Addr == header.IPv6Any {
			fa.Addr = tcpip.Address{}
		}
		// A scope id selects the interface of a link-local address.
		fa.NIC = tcpip.NICID(binary.LittleEndian.Uint32(b[24:]))
	default:
		return fa, syscall.EAFNOSUPPORT
	}
	return fa, nil
}

// encodeSockaddr encodes a netstack address as a sockaddr of the socket's
// family. IPv4 peers of an AF_INET6 socket appear as ::ffff:a.b.c.d.
func encodeSockaddr(family int, fa tcpip.FullAddress) []byte {
	if family == syscall.AF_INET {
		b := make([]byte, sizeofSockaddrIn)
		binary.LittleEndian.PutUint16(b, syscall.AF_INET)
		binary.BigEndian.PutUint16(b[2:], fa.Port)
		if fa.Addr.Len() == header.IPv4AddressSize {
			a := fa.Addr.As4()
			copy(b[4:], a[:])
		}
		return b
	}
	b := make([]byte, sizeofSockaddrIn6)
	binary.LittleEndian.PutUint16(b, syscall.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], fa.Port)
	switch fa.Addr.Len() {
	case header.IPv4AddressSize:
		a := fa.Addr.As4()
		b[18], b[19] = 0xff, 0xff
		copy(b[20:], a[:])
	case header.IPv6AddressSize:
		a := fa.Addr.As16()
		copy(b[8:], a[:])
		if header.IsV6LinkLocalUnicastAddress(fa.Addr) {
			binary.LittleEndian.PutUint32(b[24:], uint32(fa.NIC))
		}
	}
	return b
}

// SockaddrInet4 and SockaddrInet6 build raw sockaddr bytes, for tests and
// for kernel code that makes its own sockets.
func SockaddrInet4(addr [4]byte, port uint16) []byte {
	return encodeSockaddr(syscall.AF_INET, tcpip.FullAddress{Addr: tcpip.AddrFrom4(addr), Port: port})
}

// SockaddrInet6 builds a raw sockaddr_in6.
func SockaddrInet6(addr [16]byte, port uint16) []byte {
	return encodeSockaddr(syscall.AF_INET6, tcpip.FullAddress{Addr: tcpip.AddrFrom16(addr), Port: port})
}

// ParseSockaddr decodes raw sockaddr bytes into address and port (the
// address is 4 or 16 bytes long, as given).
func ParseSockaddr(b []byte) (addr []byte, port uint16, err error) {
	if len(b) < 2 {
		return nil, 0, syscall.EINVAL
	}
	fa, err := parseSockaddr(int(binary.LittleEndian.Uint16(b)), b)
	if err != nil {
		return nil, 0, err
	}
	if fa.Addr.Len() == 0 {
		if binary.LittleEndian.Uint16(b) == syscall.AF_INET {
			return make([]byte, 4), fa.Port, nil
		}
		return make([]byte, 16), fa.Port, nil
	}
	return fa.Addr.AsSlice(), fa.Port, nil
}
