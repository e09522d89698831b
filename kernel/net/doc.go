// Package net is Stardust's socket layer: it runs gVisor's netstack
// (gvisor.dev/gvisor/pkg/tcpip) as the TCP/IP stack and presents its
// endpoints as Linux sockets, i.e. as open file descriptions
// (kernel/fdesc) with the extra socket operations the system-call layer
// needs (bind, listen, accept4, connect, sendmsg, setsockopt, ...).
//
// Execution context: service context. Everything here runs in ordinary
// goroutines: methods may allocate and may block, and the package is
// unit-tested on the host with plain `go test`. Nothing here may be called
// from trap context; the network driver hands frames over from its own
// goroutine (see Device).
//
// The pieces:
//
//   - Stack (stack.go) owns one netstack instance with IPv4, IPv6, ARP,
//     TCP, UDP and ICMP, a loopback interface and at most one Ethernet
//     interface, plus the host configuration Linux keeps next to its stack:
//     addresses, routes, hostname and the DNS servers that become
//     /etc/resolv.conf.
//   - Device (link.go) is what a network driver (virtio-net) implements;
//     the package adapts it to netstack's LinkEndpoint, adding and removing
//     Ethernet headers itself.
//   - Socket (socket.go, sockopt.go) is an AF_INET/AF_INET6 SOCK_STREAM or
//     SOCK_DGRAM socket. Errors are syscall.Errno values (errno.go);
//     addresses cross the API as the raw Linux sockaddr bytes (sockaddr.go)
//     so that the system-call layer only copies memory.
//   - The DHCPv4 client (dhcp.go) configures the Ethernet interface the way
//     QEMU's user networking expects.
package net
