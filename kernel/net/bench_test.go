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
	c, srv := connected(b, a, bs, 8080)
	c.SetSockOpt(syscall.IPPROTO_TCP, syscall.TCP_NODELAY, putInt(1))
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
