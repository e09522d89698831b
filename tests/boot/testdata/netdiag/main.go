// Prints what the network looks like from inside the guest, then tries a
// TCP connection to the address given as the first argument.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	ifs, err := net.Interfaces()
	fmt.Println("interfaces:", len(ifs), err)
	l, err := net.Listen("tcp", ":8080")
	fmt.Println("listen:", err)
	if err == nil {
		defer l.Close()
		fmt.Println("listening on", l.Addr())
	}
	if len(os.Args) > 1 {
		c, err := net.DialTimeout("tcp", os.Args[1], 5*time.Second)
		fmt.Println("dial:", err)
		if err == nil {
			fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			fmt.Printf("read %d %v %q\n", n, err, buf[:n])
		}
	}
}
