// Listening twice on one port must fail with EADDRINUSE.
package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

func main() {
	a, err := net.Listen("tcp", ":7000")
	fmt.Println("first:", err)
	_, err = net.Listen("tcp", ":7000")
	fmt.Println("second:", err, errors.Is(err, syscall.EADDRINUSE))
	a.Close()
	b, err := net.Listen("tcp", ":7000")
	fmt.Println("after close:", err)
	if b != nil {
		b.Close()
	}
}
