// Echoes UDP datagrams on :9001 (uppercased) until one says "quit", then
// exits. It counts what it echoed, so the test can tell a lost datagram
// (legal for UDP) from a broken path.
package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
)

func main() {
	c, err := net.ListenPacket("udp", ":9001")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	buf := make([]byte, 2048)
	for n := 0; ; n++ {
		k, from, err := c.ReadFrom(buf)
		if err != nil {
			fmt.Println("read:", err)
			os.Exit(1)
		}
		if string(buf[:k]) == "quit" {
			fmt.Println("echoed", n)
			return
		}
		c.WriteTo(bytes.ToUpper(buf[:k]), from)
	}
}
