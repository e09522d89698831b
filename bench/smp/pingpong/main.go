// Command pingpong measures thread wake-ups: two goroutines, each locked
// to its own OS thread, pass a token back and forth N times, first with
// raw futex calls (FUTEX_WAIT/FUTEX_WAKE on a shared word: the wake-to-run
// latency of the kernel's futex and scheduler), then over unbuffered
// channels (what Go programs see: the runtime's own futex sleeps). It
// prints "futex-ns=X chan-ns=Y": nanoseconds per one-way hand-off.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	futexWait = 128 | 0 // FUTEX_WAIT_PRIVATE
	futexWake = 128 | 1 // FUTEX_WAKE_PRIVATE
)

func main() {
	n := 20000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	fmt.Printf("futex-ns=%d chan-ns=%d\n", futexPingPong(n), chanPingPong(n))
}

// futexPingPong: the word holds whose turn it is (0 or 1).
func futexPingPong(n int) int64 {
	var word atomic.Uint32
	var wg sync.WaitGroup
	player := func(me uint32) {
		defer wg.Done()
		runtime.LockOSThread()
		for i := 0; i < n; i++ {
			for word.Load() != me {
				syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), futexWait, uintptr(1-me), 0, 0, 0)
			}
			word.Store(1 - me)
			syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), futexWake, 1, 0, 0, 0)
		}
	}
	wg.Add(2)
	t := time.Now()
	go player(0)
	go player(1)
	wg.Wait()
	return time.Since(t).Nanoseconds() / int64(2*n)
}

func chanPingPong(n int) int64 {
	a, b := make(chan int), make(chan int)
	done := make(chan bool)
	go func() {
		runtime.LockOSThread()
		for i := 0; i < n; i++ {
			b <- <-a
		}
		done <- true
	}()
	runtime.LockOSThread()
	t := time.Now()
	for i := 0; i < n; i++ {
		a <- i
		<-b
	}
	el := time.Since(t)
	<-done
	return el.Nanoseconds() / int64(2*n)
}
