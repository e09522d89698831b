package net

import (
	"syscall"
	"testing"
)

// BenchmarkTCPRoundTrip measures a one-byte ping-pong between two stacks
// joined by the test wire, through the socket layer the kernel uses: the
// cost of netstack itself, without the VM (compare with the same ping-pong
// in a guest, docs/benchmarks.md).
func BenchmarkTCPRoundTrip(b *testing.B) {
	a, bs, _, _ := newPair(b)
	l := listener(b, bs, ipB, 8080, 16)
	ch := make(chan SocketOps, 1)
	go func() {
		so, _, _ := l.Accept(0)
		ch <- so
	}()
	c := mustSocket(b, a, syscall.AF_INET, syscall.SOCK_STREAM)
	if err := c.Connect(SockaddrInet4(ipB, 8080)); err != nil {
		b.Fatal(err)
	}
	c.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, putInt(1))
	srv := <-ch
	srv.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, putInt(1))
	go func() {
		buf := make([]byte, 1)
		for {
			if n, err := srv.Read(buf); n == 0 || err != nil {
				return
			}
			srv.Write(buf)
		}
	}()
	buf := make([]byte, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Write(buf)
		c.Read(buf)
	}
	b.StopTimer()
	c.Close()
	srv.Close()
}
