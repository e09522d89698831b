package linux

import (
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/mem"
)

// Access to the program's memory. Every pointer a system call receives is
// checked (and its pages faulted in) with mem.EnsureUser before the kernel
// touches it, so a bad pointer becomes EFAULT instead of a kernel fault.

//go:nosplit
func userBytes(addr, n uintptr, write bool) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	if !mem.EnsureUser(addr, n, write) {
		return nil, false
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(addr)), n), true
}

//go:nosplit
func readU64(addr uintptr) (uint64, bool) {
	if addr&7 != 0 || !mem.EnsureUser(addr, 8, false) {
		return 0, false
	}
	return *(*uint64)(unsafe.Pointer(addr)), true
}

//go:nosplit
func writeU64(addr uintptr, v uint64) bool {
	if addr&7 != 0 || !mem.EnsureUser(addr, 8, true) {
		return false
	}
	*(*uint64)(unsafe.Pointer(addr)) = v
	return true
}

//go:nosplit
func writeU32(addr uintptr, v uint32) bool {
	if addr&3 != 0 || !mem.EnsureUser(addr, 4, true) {
		return false
	}
	*(*uint32)(unsafe.Pointer(addr)) = v
	return true
}

// readTimespec reads a struct timespec and returns it in nanoseconds.
//
//go:nosplit
func readTimespec(addr uintptr) (int64, bool) {
	sec, ok1 := readU64(addr)
	nsec, ok2 := readU64(addr + 8)
	if !ok1 || !ok2 || int64(nsec) < 0 || nsec >= 1e9 || int64(sec) < 0 {
		return 0, false
	}
	if sec > 1<<33 { // ~272 years: treat as "forever" without overflow
		sec = 1 << 33
	}
	return int64(sec)*1e9 + int64(nsec), true
}

//go:nosplit
func writeTimespec(addr uintptr, ns int64) bool {
	return writeU64(addr, uint64(ns/1e9)) && writeU64(addr+8, uint64(ns%1e9))
}

// errno returns the raw system-call result for error e.
//
//go:nosplit
func errno(e syscall.Errno) uintptr { return uintptr(-int64(e)) }

// cstring returns the NUL-terminated string at addr (at most max bytes).
//
//go:nosplit
func cstring(addr uintptr, max int) ([]byte, bool) {
	for n := 0; n < max; n++ {
		b, ok := userBytes(addr+uintptr(n), 1, false)
		if !ok {
			return nil, false
		}
		if b[0] == 0 {
			return unsafe.Slice((*byte)(unsafe.Pointer(addr)), n), true
		}
	}
	return nil, false
}
