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
			if len(os.Args) > 3 && os.Args[2] == "-send" {
				// Send N bytes of a deterministic stream: byte i is i*7 mod 251.
				total, _ := strconv.Atoi(os.Args[3])
				buf := make([]byte, 64<<10)
				sent := 0
				for sent < total {
					k := min(len(buf), total-sent)
					for j := 0; j < k; j++ {
						buf[j] = byte((sent + j) * 7 % 251)
					}
					if _, err := c.Write(buf[:k]); err != nil {
						fmt.Println("send:", err)
						break
					}
					sent += k
				}
				// Exiting powers the VM off at once, with whatever is still
				// queued: close our side and wait for the peer to close.
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
				done <- true
				return
			}
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
