// Command pipe checks pipes: os.Pipe as the first thing main does (Go makes
// pipe2 with RawSyscall, so the kernel must not wait for a service goroutine
// while the program's only P is held), data across goroutines, EOF after
// the writer closes, EAGAIN on an empty non-blocking pipe, and many more
// pipes than the kernel keeps ready.
package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

func main() {
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Println("pipe:", err)
		os.Exit(1)
	}
	go func() {
		w.Write([]byte("through the pipe"))
		w.Close()
	}()
	b, err := io.ReadAll(r)
	fmt.Printf("read: %q %v\n", b, err)
	r.Close()

	var p [2]int
	err = syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC)
	var buf [8]byte
	_, rerr := syscall.Read(p[0], buf[:])
	fmt.Println("nonblocking:", err, rerr == syscall.EAGAIN)
	syscall.Close(p[0])
	syscall.Close(p[1])

	fmt.Println("O_DIRECT:", syscall.Pipe2(p[:], syscall.O_DIRECT))

	ok := 0
	for i := 0; i < 40; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			fmt.Println("pipe", i, err)
			break
		}
		msg := fmt.Sprint("pipe ", i)
		w.Write([]byte(msg))
		w.Close()
		if b, _ := io.ReadAll(r); string(b) == msg {
			ok++
		}
		r.Close()
	}
	fmt.Println("round trips:", ok)
}
