package linux

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/mem"
)

// Memory-management system calls. Only anonymous private memory exists so
// far; file mappings come with the VFS.

const (
	mapShared         = 0x01
	mapPrivate        = 0x02
	mapFixed          = 0x10
	mapAnonymous      = 0x20
	mapFixedNoReplace = 0x100000

	madvDontneed = 4
	madvFree     = 8
)

// mmap(addr, length, prot, flags, fd, offset)
//
//go:nosplit
func sysMmap(f *amd64.Frame) uintptr {
	addr, length, prot, flags := uintptr(f.RDI), uintptr(f.RSI), uint32(f.RDX), f.R10
	if length == 0 || prot&^(mem.ProtRead|mem.ProtWrite|mem.ProtExec) != 0 {
		return errno(syscall.EINVAL)
	}
	if flags&mapAnonymous == 0 {
		return errno(syscall.ENODEV) // file mappings: not yet
	}
	if flags&(mapShared|mapPrivate) == 0 {
		return errno(syscall.EINVAL)
	}
	fixed := flags&mapFixed != 0
	if flags&mapFixedNoReplace != 0 {
		if !mem.RangeFree(addr, length) {
			return errno(syscall.EEXIST)
		}
		fixed = true
	}
	a := mem.Map(addr, length, prot, fixed)
	if a == 0 {
		if fixed {
			return errno(syscall.EINVAL)
		}
		return errno(syscall.ENOMEM)
	}
	return a
}

//go:nosplit
func sysMunmap(f *amd64.Frame) uintptr {
	addr, length := uintptr(f.RDI), uintptr(f.RSI)
	if addr&(mem.PageSize-1) != 0 || length == 0 || addr+length < addr {
		return errno(syscall.EINVAL)
	}
	if !mem.Unmap(addr, length) {
		return errno(syscall.ENOMEM)
	}
	return 0
}

//go:nosplit
func sysMprotect(f *amd64.Frame) uintptr {
	addr, length, prot := uintptr(f.RDI), uintptr(f.RSI), uint32(f.RDX)
	if addr&(mem.PageSize-1) != 0 || prot&^(mem.ProtRead|mem.ProtWrite|mem.ProtExec) != 0 {
		return errno(syscall.EINVAL)
	}
	if length == 0 {
		return 0
	}
	if !mem.Protect(addr, length, prot) {
		return errno(syscall.ENOMEM)
	}
	return 0
}

//go:nosplit
func sysMadvise(f *amd64.Frame) uintptr {
	addr, length, advice := uintptr(f.RDI), uintptr(f.RSI), f.RDX
	if addr&(mem.PageSize-1) != 0 {
		return errno(syscall.EINVAL)
	}
	switch advice {
	case madvDontneed, madvFree:
		mem.Discard(addr, length)
	}
	// Other advice (huge pages, sequential access, ...) is a hint that
	// changes nothing here; Linux also accepts it.
	return 0
}

// brk: Go never uses it on linux/amd64; report "no heap" the way Linux
// does when brk cannot move: the current break (0).
//
//go:nosplit
func sysBrk(f *amd64.Frame) uintptr { return 0 }

// mincore: pages are reported resident if mapped.
//
//go:nosplit
func sysMincore(f *amd64.Frame) uintptr {
	addr, length, vec := uintptr(f.RDI), uintptr(f.RSI), uintptr(f.RDX)
	if addr&(mem.PageSize-1) != 0 {
		return errno(syscall.EINVAL)
	}
	n := (length + mem.PageSize - 1) / mem.PageSize
	out, ok := userBytes(vec, n, true)
	if !ok {
		return errno(syscall.EFAULT)
	}
	for i := uintptr(0); i < n; i++ {
		va := addr + i*mem.PageSize
		if !mem.Mapped(va) {
			return errno(syscall.ENOMEM)
		}
		out[i] = byte(mem.Lookup(va) & mem.PTEPresent)
	}
	return 0
}
