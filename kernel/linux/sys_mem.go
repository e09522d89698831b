package linux

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/mem"
)

// Memory-management system calls. Anonymous memory is the kernel's own
// (demand-zero pages). File mappings are made by the service that owns the
// file (kernel/services/mmap.go): it maps anonymous memory, reads the file
// into it and, for MAP_SHARED, keeps it coherent with the file. While any
// shared file mapping exists, munmap and msync are forwarded to it too.

const (
	mapShared         = 0x01
	mapPrivate        = 0x02
	mapFixed          = 0x10
	mapAnonymous      = 0x20
	mapFixedNoReplace = 0x100000

	madvDontneed = 4
	madvFree     = 8

	msAsync      = 1
	msInvalidate = 2
	msSync       = 4
)

// fileMaps mirrors the service's shared file mappings (SysFileMaps), so
// that munmap and msync are forwarded only for them: the Go runtime's own
// munmaps, made with runtime locks held, must never wait for a goroutine.
var fileMaps [64]struct{ start, end uintptr }

// fileMapped reports whether [addr, addr+length) overlaps a shared file
// mapping.
//
//go:nosplit
func fileMapped(addr, length uintptr) bool {
	for i := range fileMaps {
		m := &fileMaps[i]
		if m.end != 0 && addr < m.end && m.start < addr+length {
			return true
		}
	}
	return false
}

// mmap(addr, length, prot, flags, fd, offset)
//
//go:nosplit
func sysMmap(f *amd64.Frame) uintptr {
	addr, length, prot, flags := uintptr(f.RDI), uintptr(f.RSI), uint32(f.RDX), f.R10
	if length == 0 || prot&^(mem.ProtRead|mem.ProtWrite|mem.ProtExec) != 0 {
		return errno(syscall.EINVAL)
	}
	if flags&(mapShared|mapPrivate) == 0 || flags&(mapShared|mapPrivate) == mapShared|mapPrivate {
		return errno(syscall.EINVAL)
	}
	if flags&mapAnonymous == 0 {
		return mmapFile(f)
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

// mmapFile forwards the mapping of a file to the service that owns it.
//
//go:nosplit
func mmapFile(f *amd64.Frame) uintptr {
	if f.R9&(mem.PageSize-1) != 0 || f.RDI&(mem.PageSize-1) != 0 && f.R10&mapFixed != 0 {
		return errno(syscall.EINVAL)
	}
	e, ok := getFD(f.R8)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return errno(syscall.ENODEV) // the console, eventfds, epoll
	}
	return forwardFD(bridge.OpMmap, e, f.RDI, f.RSI, f.RDX, f.R10, f.R8, f.R9)
}

//go:nosplit
func sysMunmap(f *amd64.Frame) uintptr {
	addr, length := uintptr(f.RDI), uintptr(f.RSI)
	if addr&(mem.PageSize-1) != 0 || length == 0 || addr+length < addr {
		return errno(syscall.EINVAL)
	}
	if fileMapped(addr, length) {
		return forward(bridge.OpMunmap, -1, 0, uint64(addr), uint64(length), 0, 0, 0, 0)
	}
	if !mem.Unmap(addr, length) {
		return errno(syscall.ENOMEM)
	}
	return 0
}

// FileMaps(op, addr, len): the service adds (bridge.FileMapAdd) or removes
// (FileMapRemove) a shared file mapping's range in the kernel's mirror, or
// unmaps memory without forwarding (FileMapUnmap, for its own munmap).
//
//go:nosplit
func sysFileMaps(f *amd64.Frame) uintptr {
	op, addr, length := f.RDI, uintptr(f.RSI), uintptr(f.RDX)
	if addr&(mem.PageSize-1) != 0 || length == 0 || addr+length < addr {
		return errno(syscall.EINVAL)
	}
	switch op {
	case bridge.FileMapAdd:
		for i := range fileMaps {
			if fileMaps[i].end == 0 {
				fileMaps[i].start, fileMaps[i].end = addr, addr+length
				return 0
			}
		}
		return errno(syscall.ENOMEM)
	case bridge.FileMapRemove:
		for i := range fileMaps {
			if fileMaps[i].start == addr && fileMaps[i].end == addr+length {
				fileMaps[i].start, fileMaps[i].end = 0, 0
				return 0
			}
		}
		return errno(syscall.ENOENT)
	case bridge.FileMapUnmap:
		if !mem.Unmap(addr, length) {
			return errno(syscall.ENOMEM)
		}
		return 0
	}
	return errno(syscall.EINVAL)
}

// msync(addr, len, flags): anonymous memory has nothing to write back;
// shared file mappings are written back by their service.
//
//go:nosplit
func sysMsync(f *amd64.Frame) uintptr {
	addr, length, flags := uintptr(f.RDI), uintptr(f.RSI), f.RDX
	if addr&(mem.PageSize-1) != 0 || flags&^(msAsync|msInvalidate|msSync) != 0 ||
		flags&(msAsync|msSync) == msAsync|msSync || addr+length < addr {
		return errno(syscall.EINVAL)
	}
	for va := addr; va < addr+length; va += mem.PageSize {
		if !mem.Mapped(va) {
			return errno(syscall.ENOMEM)
		}
	}
	if fileMapped(addr, length) {
		return forward(bridge.OpMsync, -1, 0, uint64(addr), uint64(length), uint64(flags), 0, 0, 0)
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
