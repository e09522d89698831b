// Echoes UDP datagrams on :9001 (uppercased), the number given as its
// first argument, then exits.
package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	c, err := net.ListenPacket("udp", ":9001")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	buf := make([]byte, 2048)
	for i := 0; i < n; i++ {
		k, from, err := c.ReadFrom(buf)
		if err != nil {
			fmt.Println("read:", err)
			os.Exit(1)
		}
		c.WriteTo(bytes.ToUpper(buf[:k]), from)
	}
}
