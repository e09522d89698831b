// While one goroutine is blocked in a long system call, others must run:
// the runtime hands the P to another thread (sysmon retakes it).
package main

import (
	"fmt"
	"syscall"
	"time"
)

func main() {
	done := make(chan time.Duration)
	go func() {
		t0 := time.Now()
		for i := 0; i < 3; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		done <- time.Since(t0)
	}()
	t0 := time.Now()
	ts := syscall.Timespec{Sec: 0, Nsec: 500_000_000}
	syscall.Nanosleep(&ts, nil) // blocks this thread for 500 ms
	fmt.Printf("syscall took %d ms\n", time.Since(t0).Milliseconds())
	fmt.Printf("other goroutine finished after %d ms\n", (<-done).Milliseconds())
}
