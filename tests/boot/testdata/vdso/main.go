// Reads the clocks through the vDSO (as Go's runtime does: time.Now and
// runtime.nanotime) and through system calls (clock_gettime for the
// monotonic clock, gettimeofday for the wall clock, so a boot trace tells
// them apart), interleaved, and checks that they agree: each system-call
// reading lies between the vDSO readings around it. Also reads a clock
// the vDSO does not answer (CLOCK_PROCESS_CPUTIME_ID goes to the kernel).
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"
	_ "unsafe" // for go:linkname
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

func sysClock(id int) (int64, syscall.Errno) {
	var ts syscall.Timespec
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano(), e
}

func main() {
	bad := 0
	for i := 0; i < 500; i++ {
		m1 := nanotime()
		s, _ := sysClock(1) // CLOCK_MONOTONIC
		m2 := nanotime()
		r1 := time.Now().UnixNano()
		var tv syscall.Timeval
		syscall.Gettimeofday(&tv)
		w := tv.Nano() // truncated to microseconds
		r2 := time.Now().UnixNano()
		if s < m1 || s > m2 || w < r1-1000 || w > r2 {
			bad++
			if bad < 5 {
				fmt.Printf("disagree: monotonic %d <= %d <= %d, realtime %d <= %d <= %d\n", m1, s, m2, r1, w, r2)
			}
		}
	}
	if _, e := sysClock(2); e != 0 {
		fmt.Println("CLOCK_PROCESS_CPUTIME_ID:", e)
		bad++
	}
	fmt.Printf("clocks: %d disagreements\n", bad)
	if bad != 0 {
		os.Exit(1)
	}
}
