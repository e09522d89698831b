// Accepts TCP connections on :9000; for each, reads until the client
// closes its side, then writes back the byte count and SHA-256, and (with
// "-echo") the data itself. Exits after the number of connections given
// as its first argument.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	l, err := net.Listen("tcp", ":9000")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	done := make(chan bool)
	for i := 0; i < n; i++ {
		c, err := l.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			if len(os.Args) > 2 && os.Args[2] == "-echo" {
				cnt, err := io.Copy(c, c)
				fmt.Println("echoed", cnt, err)
				done <- true
				return
			}
			h := sha256.New()
			cnt, err := io.Copy(h, c)
			fmt.Fprintf(c, "%d %x %v\n", cnt, h.Sum(nil), err)
			done <- true
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
}
