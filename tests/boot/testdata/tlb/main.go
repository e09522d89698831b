// One goroutine keeps reading a page (so its CPU caches the translation)
// while another, on another CPU, unmaps it: the reader's next access must
// fault (SIGSEGV, recovered thanks to SetPanicOnFault) instead of reading
// the freed page through a stale TLB entry. Then the same with
// MADV_DONTNEED, which must make the page read back as zeros.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	debug.SetPanicOnFault(true)
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		fmt.Println("mmap:", err)
		os.Exit(1)
	}
	mem[0] = 42
	p := (*uint8)(unsafe.Pointer(&mem[0]))
	var reading, faulted atomic.Bool
	done := make(chan bool)
	go func() {
		runtime.LockOSThread()
		debug.SetPanicOnFault(true) // per goroutine
		defer func() {
			faulted.Store(recover() != nil)
			done <- true
		}()
		for {
			if *p != 42 {
				panic("stale")
			}
			reading.Store(true)
		}
	}()
	for !reading.Load() {
		time.Sleep(time.Millisecond)
	}
	syscall.Munmap(mem)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Println("munmap: the reader never faulted (stale TLB entry)")
		os.Exit(1)
	}
	fmt.Printf("munmap: reader faulted: %v\n", faulted.Load())

	mem, _ = syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	mem[0] = 7
	p = (*uint8)(unsafe.Pointer(&mem[0]))
	var zero atomic.Bool
	reading.Store(false)
	go func() {
		runtime.LockOSThread()
		for {
			v := *(*uint8)(unsafe.Pointer(p))
			reading.Store(true)
			if v == 0 {
				zero.Store(true)
				done <- true
				return
			}
		}
	}()
	for !reading.Load() {
		time.Sleep(time.Millisecond)
	}
	syscall.Madvise(mem, syscall.MADV_DONTNEED)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		fmt.Println("madvise: the reader still sees the old page (stale TLB entry)")
		os.Exit(1)
	}
	fmt.Printf("madvise: reader sees zeros: %v\n", zero.Load())
}
