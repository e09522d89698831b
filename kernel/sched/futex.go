package sched

import (
	"sync/atomic"
	"unsafe"
)

// Futexes. The key of a waiter is the futex word's virtual address: Stardust
// has one address space, so private and shared futexes are the same thing.
// With one CPU and interrupts off in the kernel, "compare the word, then
// sleep" is atomic with respect to FutexWake.

// Futex results.
const (
	FutexOK       = 0
	FutexAgain    = 1 // *addr != val (EAGAIN)
	FutexTimedOut = 2 // ETIMEDOUT
	FutexSignal   = 3 // EINTR
)

// FutexWait blocks the current thread if the 32-bit word at addr (already
// checked to be mapped and readable) still holds val, until FutexWake on
// addr, the deadline (monotonic ns; 0 = none) or a signal.
//
//go:nosplit
func FutexWait(addr uintptr, val uint32, deadline int64) int {
	if atomic.LoadUint32((*uint32)(unsafe.Pointer(addr))) != val {
		return FutexAgain
	}
	switch Block(futexKey(addr), deadline, true) {
	case WokenTimeout:
		return FutexTimedOut
	case WokenSignal:
		return FutexSignal
	}
	return FutexOK
}

// FutexWake wakes up to n threads waiting on addr and returns how many.
//
//go:nosplit
func FutexWake(addr uintptr, n int) int {
	return WakeKey(futexKey(addr), n)
}

// futexKey tags futex keys so they never equal other wait keys (which are
// kernel addresses in the upper half).
//
//go:nosplit
func futexKey(addr uintptr) uintptr { return addr }

// WakeKey wakes up to n threads blocked on key, in table order.
//
//go:nosplit
func WakeKey(key uintptr, n int) int {
	woken := 0
	tab := table()
	for i := range tab {
		if woken >= n {
			break
		}
		t := &tab[i]
		if t.State == Blocked && t.WaitKey == key && key != 0 {
			Wake(t, WokenNormally)
			woken++
		}
	}
	return woken
}
