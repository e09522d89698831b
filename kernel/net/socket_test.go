package net

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

func TestTCPEchoAcrossWire(t *testing.T) {
	a, b, _, _ := newPair(t)
	l := listener(t, b, ipB, 8080, 16)

	type accepted struct {
		so   SocketOps
		peer []byte
		err  error
	}
	ch := make(chan accepted, 1)
	go func() {
		so, peer, err := l.Accept(0)
		ch <- accepted{so, peer, err}
	}()

	c := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_STREAM)
	if err := c.Connect(SockaddrInet4(ipB, 8080)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	acc := <-ch
	if acc.err != nil {
		t.Fatalf("accept: %v", acc.err)
	}
	srv := acc.so
	defer srv.Close()

	// The server sees the client's address; both ends agree on names.
	local, _ := c.GetSockName()
	if !bytes.Equal(local, acc.peer) {
		t.Errorf("accept peer %x, client sockname %x", acc.peer, local)
	}
	peer, err := c.GetPeerName()
	if err != nil || !bytes.Equal(peer, SockaddrInet4(ipB, 8080)) {
		t.Errorf("getpeername = %x, %v", peer, err)
	}
	if addr, port, _ := ParseSockaddr(local); !bytes.Equal(addr, ipA[:]) || port == 0 {
		t.Errorf("client bound to %v:%d", addr, port)
	}

	// Echo 200 KiB: more than the send buffer, so blocking writes and
	// reads interleave through the window.
	msg := bytes.Repeat([]byte("0123456789abcdef"), 200*64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := srv.Read(buf)
			if n == 0 || err != nil {
				srv.Shutdown(syscall.SHUT_WR)
				return
			}
			if _, err := srv.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	go func() {
		if n, err := c.Write(msg); n != len(msg) || err != nil {
			t.Errorf("write = %d, %v", n, err)
		}
		c.Shutdown(syscall.SHUT_WR)
	}()
	var got []byte
	buf := make([]byte, 3000)
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n == 0 {
			break
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echoed %d bytes, want %d (equal prefix: %v)", len(got), len(msg), bytes.HasPrefix(msg, got))
	}
}

func TestNonBlockingConnectAndReadiness(t *testing.T) {
	a, b, _, _ := newPair(t)
	l := listener(t, b, ipB, 81, 4)
	l.SetFlags(syscall.O_NONBLOCK)
	if _, _, err := l.Accept(0); err != syscall.EAGAIN {
		t.Fatalf("accept on empty non-blocking listener: %v", err)
	}

	c, err := a.Socket(syscall.AF_INET, syscall.SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Flags()&syscall.O_NONBLOCK == 0 {
		t.Fatal("SOCK_NONBLOCK did not set O_NONBLOCK")
	}
	expectErrno(t, "connect", c.Connect(SockaddrInet4(ipB, 81)), syscall.EINPROGRESS)
	waitReady(t, c, fdesc.PollOut, 5*time.Second)
	if v, err := c.GetSockOpt(syscall.SOL_SOCKET, syscall.SO_ERROR); err != nil || binary.LittleEndian.Uint32(v) != 0 {
		t.Fatalf("SO_ERROR = %v, %v", v, err)
	}
	expectErrno(t, "second connect", c.Connect(SockaddrInet4(ipB, 81)), syscall.EISCONN)

	// The listener becomes readable; accept4 with SOCK_NONBLOCK.
	waitReady(t, l, fdesc.PollIn, 5*time.Second)
	s, _, err := l.Accept(SOCK_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Flags()&syscall.O_NONBLOCK == 0 {
		t.Fatal("accept4(SOCK_NONBLOCK) gave a blocking socket")
	}
	if _, err := s.Read(make([]byte, 10)); err != syscall.EAGAIN {
		t.Fatalf("read with no data: %v", err)
	}
	if s.Readiness()&fdesc.PollIn != 0 {
		t.Fatal("readable with no data")
	}
	c.Write([]byte("hi"))
	waitReady(t, s.(*Socket), fdesc.PollIn, 5*time.Second)
	buf := make([]byte, 10)
	if n, err := s.Read(buf); n != 2 || err != nil {
		t.Fatalf("read = %d, %v", n, err)
	}
	// Peer close shows as readable with RDHUP and reads 0.
	c.Close()
	r := waitReady(t, s.(*Socket), fdesc.PollRdHup, 5*time.Second)
	if r&fdesc.PollIn == 0 {
		t.Errorf("readiness after FIN = %#x, want PollIn too", r)
	}
	if n, err := s.Read(buf); n != 0 || err != nil {
		t.Fatalf("read at EOF = %d, %v", n, err)
	}
}

func TestConnectionRefused(t *testing.T) {
	a, _, _, _ := newPair(t)
	c := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_STREAM)
	expectErrno(t, "blocking connect", c.Connect(SockaddrInet4(ipB, 9)), syscall.ECONNREFUSED)

	n, _ := a.Socket(syscall.AF_INET, syscall.SOCK_STREAM|SOCK_NONBLOCK, 0)
	defer n.Close()
	expectErrno(t, "non-blocking connect", n.Connect(SockaddrInet4(ipB, 9)), syscall.EINPROGRESS)
	waitReady(t, n, fdesc.PollOut|fdesc.PollErr|fdesc.PollHup, 5*time.Second)
	v, err := n.GetSockOpt(syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil || syscall.Errno(binary.LittleEndian.Uint32(v)) != syscall.ECONNREFUSED {
		t.Fatalf("SO_ERROR = %v, %v; want ECONNREFUSED", v, err)
	}
	// SO_ERROR is cleared by reading it.
	v, _ = n.GetSockOpt(syscall.SOL_SOCKET, syscall.SO_ERROR)
	if binary.LittleEndian.Uint32(v) != 0 {
		t.Fatalf("SO_ERROR not cleared: %v", v)
	}
}

func TestAddressInUse(t *testing.T) {
	a, _, _, _ := newPair(t)
	listener(t, a, ipA, 7000, 1)
	s := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_STREAM)
	expectErrno(t, "second bind", s.Bind(SockaddrInet4(ipA, 7000)), syscall.EADDRINUSE)
	// The wildcard address conflicts too.
	w := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_STREAM)
	expectErrno(t, "wildcard bind", w.Bind(SockaddrInet4([4]byte{}, 7000)), syscall.EADDRINUSE)
	// UDP has its own port space.
	u := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_DGRAM)
	if err := u.Bind(SockaddrInet4(ipA, 7000)); err != nil {
		t.Fatalf("udp bind on a tcp port: %v", err)
	}
	// A second bind of a bound socket is EINVAL.
	expectErrno(t, "rebind", u.Bind(SockaddrInet4(ipA, 7001)), syscall.EINVAL)
}

// connected returns a connected client/server TCP pair across the wire.
func connected(t testing.TB, a, b *Stack, port uint16) (*Socket, *Socket) {
	t.Helper()
	l := listener(t, b, ipB, port, 4)
	c := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_STREAM)
	if err := c.Connect(SockaddrInet4(ipB, port)); err != nil {
		t.Fatal(err)
	}
	s, _, err := l.Accept(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s.(*Socket)
}

func TestConnectionReset(t *testing.T) {
	a, b, _, _ := newPair(t)
	c, s := connected(t, a, b, 82)
	// Closing with unread data sends RST instead of FIN (RFC 2525,
	// Linux's behaviour).
	c.Write([]byte("unread"))
	waitReady(t, s, fdesc.PollIn, 5*time.Second)
	s.Close()
	waitReady(t, c, fdesc.PollErr|fdesc.PollHup, 5*time.Second)
	_, err := c.Read(make([]byte, 10))
	expectErrno(t, "read after RST", err, syscall.ECONNRESET)
}

func TestBrokenPipe(t *testing.T) {
	a, b, _, _ := newPair(t)
	c, _ := connected(t, a, b, 83)
	if err := c.Shutdown(syscall.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	_, err := c.Write([]byte("x"))
	expectErrno(t, "write after SHUT_WR", err, syscall.EPIPE)
	expectErrno(t, "bad shutdown", c.Shutdown(7), syscall.EINVAL)

	u := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_STREAM)
	expectErrno(t, "shutdown unconnected", u.Shutdown(syscall.SHUT_RDWR), syscall.ENOTCONN)
	_, err = u.GetPeerName()
	expectErrno(t, "getpeername unconnected", err, syscall.ENOTCONN)
}

func TestReceiveTimeout(t *testing.T) {
	a, b, _, _ := newPair(t)
	c, _ := connected(t, a, b, 84)
	tv := make([]byte, 16)
	binary.LittleEndian.PutUint64(tv[8:], 50_000) // 50 ms
	if err := c.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, tv); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.Read(make([]byte, 10))
	expectErrno(t, "read with SO_RCVTIMEO", err, syscall.EAGAIN)
	if d := time.Since(start); d < 40*time.Millisecond || d > 2*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	got, _ := c.GetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVTIMEO)
	if !bytes.Equal(got, tv) {
		t.Fatalf("SO_RCVTIMEO reads back %x", got)
	}
}

func TestListenBacklog(t *testing.T) {
	a, b, _, _ := newPair(t)
	l := listener(t, b, ipB, 85, 1)
	// Nobody accepts. Clients connect one after another; once the accept
	// queue is full the listener drops further SYNs, so those clients
	// stay in SYN-SENT. (Linux queues backlog+1, netstack backlog.)
	var clients []*Socket
	established := 0
	for i := 0; i < 4; i++ {
		c, _ := a.Socket(syscall.AF_INET, syscall.SOCK_STREAM|SOCK_NONBLOCK, 0)
		defer c.Close()
		expectErrno(t, "connect", c.Connect(SockaddrInet4(ipB, 85)), syscall.EINPROGRESS)
		clients = append(clients, c)
		deadline := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(deadline) {
			if _, err := c.GetPeerName(); err == nil {
				established++
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if established < 1 || established > 2 {
		t.Fatalf("%d of 4 connections completed with backlog 1", established)
	}
	// Accepting drains the queue; the rest complete on SYN retransmit.
	l.SetFlags(syscall.O_NONBLOCK)
	got := 0
	deadline := time.Now().Add(10 * time.Second)
	for got < 4 && time.Now().Before(deadline) {
		s, _, err := l.Accept(0)
		if err == syscall.EAGAIN {
			waitReady(t, l, fdesc.PollIn, 10*time.Second)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		got++
	}
	if got != 4 {
		t.Fatalf("accepted %d of 4", got)
	}
}

func TestUDPEcho(t *testing.T) {
	a, b, _, _ := newPair(t)
	srv := mustSocket(t, b, syscall.AF_INET, syscall.SOCK_DGRAM)
	if err := srv.Bind(SockaddrInet4([4]byte{}, 53)); err != nil {
		t.Fatal(err)
	}
	cli := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_DGRAM)
	if _, err := cli.SendTo([]byte("ping"), 0, SockaddrInet4(ipB, 53)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, from, err := srv.RecvFrom(buf, 0)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("recvfrom = %q, %v", buf[:n], err)
	}
	// The client is bound to the wildcard address; the server sees the
	// real source address and the client's port.
	cliName, _ := cli.GetSockName()
	_, cliPort, _ := ParseSockaddr(cliName)
	if !bytes.Equal(from, SockaddrInet4(ipA, cliPort)) {
		t.Fatalf("from %x, client is %x", from, cliName)
	}
	if _, err := srv.SendMsg([][]byte{[]byte("po"), []byte("ng")}, 0, from); err != nil {
		t.Fatal(err)
	}
	iov := [][]byte{make([]byte, 1), make([]byte, 10)}
	n, from, _, err = cli.RecvMsg(iov, 0)
	if err != nil || n != 4 || string(iov[0])+string(iov[1][:3]) != "pong" {
		t.Fatalf("recvmsg = %d %q %q %v", n, iov[0], iov[1], err)
	}
	if !bytes.Equal(from, SockaddrInet4(ipB, 53)) {
		t.Fatalf("reply from %x", from)
	}

	// A datagram larger than the buffer is cut, and MSG_TRUNC says so.
	cli.SendTo([]byte("0123456789"), 0, SockaddrInet4(ipB, 53))
	small := make([]byte, 4)
	n, _, mf, err := srv.RecvMsg([][]byte{small}, MSG_TRUNC)
	if err != nil || n != 10 || mf&MSG_TRUNC == 0 || string(small) != "0123" {
		t.Fatalf("truncated recv = %d %#x %q %v", n, mf, small, err)
	}
	// The rest of that datagram is gone.
	if _, _, err := srv.RecvFrom(buf, MSG_DONTWAIT); err != syscall.EAGAIN {
		t.Fatalf("after truncation: %v", err)
	}

	// A connected UDP socket gets ECONNREFUSED from the ICMP port
	// unreachable that follows a send to a closed port.
	cc := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_DGRAM)
	if err := cc.Connect(SockaddrInet4(ipB, 9)); err != nil {
		t.Fatal(err)
	}
	cc.Write([]byte("x"))
	waitReady(t, cc, fdesc.PollErr, 5*time.Second)
	_, err = cc.Write([]byte("x"))
	expectErrno(t, "udp send after port unreachable", err, syscall.ECONNREFUSED)
}

func TestDualStackAndLoopback(t *testing.T) {
	a, _, _, _ := newPair(t)
	l := mustSocket(t, a, syscall.AF_INET6, syscall.SOCK_STREAM)
	if err := l.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_REUSEADDR, putInt(1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Bind(SockaddrInet6([16]byte{}, 8000)); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	// An IPv4 client over loopback reaches the IPv6 wildcard listener.
	c := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_STREAM)
	if err := c.Connect(SockaddrInet4([4]byte{127, 0, 0, 1}, 8000)); err != nil {
		t.Fatal(err)
	}
	s, peer, err := l.Accept(0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(peer) != sizeofSockaddrIn6 || !bytes.Equal(peer[8:24], append(make([]byte, 10), 0xff, 0xff, 127, 0, 0, 1)) {
		t.Fatalf("peer of IPv4 client is %x, want ::ffff:127.0.0.1", peer)
	}
	// IPv6 loopback works too.
	c6 := mustSocket(t, a, syscall.AF_INET6, syscall.SOCK_STREAM)
	var one [16]byte
	one[15] = 1
	if err := c6.Connect(SockaddrInet6(one, 8000)); err != nil {
		t.Fatal(err)
	}
	// An IPv6-only socket refuses IPv4-mapped addresses.
	v6 := mustSocket(t, a, syscall.AF_INET6, syscall.SOCK_DGRAM)
	if err := v6.SetSockOpt(syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, putInt(1)); err != nil {
		t.Fatal(err)
	}
	mapped := [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
	if _, err := v6.SendTo([]byte("x"), 0, SockaddrInet6(mapped, 9)); err == nil {
		t.Fatal("IPV6_V6ONLY socket sent to an IPv4-mapped address")
	}
	// An address of the wrong family is refused.
	expectErrno(t, "AF_INET6 address on AF_INET socket", c.Bind(SockaddrInet6(one, 1)), syscall.EAFNOSUPPORT)
}

func TestSocketOptionsGoSets(t *testing.T) {
	a, b, _, _ := newPair(t)
	c, _ := connected(t, a, b, 86)
	set := func(level, name, v int) {
		t.Helper()
		if err := c.SetSockOpt(level, name, putInt(v)); err != nil {
			t.Fatalf("setsockopt(%d, %d, %d): %v", level, name, v, err)
		}
		got, err := c.GetSockOpt(level, name)
		if err != nil || int(int32(binary.LittleEndian.Uint32(got))) != v {
			t.Fatalf("getsockopt(%d, %d) = %v, %v; want %d", level, name, got, err, v)
		}
	}
	set(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	set(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 0)
	set(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
	set(syscall.IPPROTO_TCP, tcpKeepIdle, 15)
	set(syscall.IPPROTO_TCP, tcpKeepIntvl, 15)
	set(syscall.IPPROTO_TCP, tcpKeepCnt, 9)
	set(syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	expectErrno(t, "keepidle 0", c.SetSockOpt(syscall.IPPROTO_TCP, tcpKeepIdle, putInt(0)), syscall.EINVAL)
	expectErrno(t, "unknown", c.SetSockOpt(syscall.SOL_SOCKET, 999, putInt(1)), syscall.ENOPROTOOPT)
	expectErrno(t, "short value", c.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, []byte{1}), syscall.EINVAL)

	// Buffer sizes are doubled, as Linux does.
	c.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, putInt(65536))
	if v, _ := c.GetSockOpt(syscall.SOL_SOCKET, syscall.SO_RCVBUF); binary.LittleEndian.Uint32(v) != 131072 {
		t.Errorf("SO_RCVBUF after setting 64 KiB = %d", binary.LittleEndian.Uint32(v))
	}
	if v, _ := c.GetSockOpt(syscall.SOL_SOCKET, syscall.SO_TYPE); binary.LittleEndian.Uint32(v) != syscall.SOCK_STREAM {
		t.Errorf("SO_TYPE = %v", v)
	}
	linger := make([]byte, 8)
	binary.LittleEndian.PutUint32(linger, 1)
	binary.LittleEndian.PutUint32(linger[4:], 3)
	if err := c.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_LINGER, linger); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetSockOpt(syscall.SOL_SOCKET, syscall.SO_LINGER); !bytes.Equal(v, linger) {
		t.Errorf("SO_LINGER = %x", v)
	}

	u := mustSocket(t, a, syscall.AF_INET, syscall.SOCK_DGRAM)
	if err := u.SetSockOpt(syscall.SOL_SOCKET, syscall.SO_BROADCAST, putInt(1)); err != nil {
		t.Fatal(err)
	}
	expectErrno(t, "TCP option on UDP", u.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, putInt(1)), syscall.ENOPROTOOPT)
}

func TestSocketConstructorErrors(t *testing.T) {
	s, err := NewStack()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0); err != syscall.EAFNOSUPPORT {
		t.Errorf("AF_UNIX: %v", err)
	}
	if _, err := s.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_UDP); err != syscall.EPROTONOSUPPORT {
		t.Errorf("stream/udp: %v", err)
	}
	if _, err := s.Socket(syscall.AF_INET, syscall.SOCK_SEQPACKET, 0); err != syscall.ESOCKTNOSUPPORT {
		t.Errorf("seqpacket: %v", err)
	}
	so, err := s.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer so.Close()
	var st syscall.Stat_t
	so.Stat(&st)
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		t.Errorf("stat mode %o", st.Mode)
	}
	expectErrno(t, "listen on udp", so.Listen(1), syscall.EOPNOTSUPP)
}
