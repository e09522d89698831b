package mem

import "github.com/stardust-go/stardust/kernel/arch/amd64"

// The program's mappings. Go reserves large PROT_NONE ranges, commits parts
// of them with MAP_FIXED, and returns memory with MADV_DONTNEED; all of it
// is anonymous memory, so a mapping is a range with protection bits and
// pages are allocated zeroed on first touch (demand-zero paging).

// Protection bits, as in mmap(2).
const (
	ProtRead  = 0x1
	ProtWrite = 0x2
	ProtExec  = 0x4
)

// User address-space limits: page 0 stays unmapped so nil dereferences
// fault, and the top of the lower canonical half is where mmap starts
// looking for free space (top-down, as Linux does).
const (
	UserMin  = 0x1000
	UserMax  = 0x0000_7FFF_FFFF_F000
	mmapBase = 0x0000_7F00_0000_0000
)

// vma is one mapping [start, end) with protection prot.
type vma struct {
	start, end uintptr
	prot       uint32
}

const maxVMAs = 1024

// vmas is sorted by start and never overlaps; neighbours with equal
// protection are merged.
var (
	vmas  [maxVMAs]vma
	nvmas int
)

// find returns the index of the mapping containing va, or -1.
//
//go:nosplit
func find(va uintptr) int {
	lo, hi := 0, nvmas
	for lo < hi {
		m := (lo + hi) / 2
		if vmas[m].end <= va {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < nvmas && lo < len(vmas) && vmas[lo].start <= va {
		return lo
	}
	return -1
}

// isFree reports whether no mapping overlaps [start, end).
//
//go:nosplit
func isFree(start, end uintptr) bool {
	for i := 0; i < nvmas && i < len(vmas); i++ {
		if vmas[i].start < end && vmas[i].end > start {
			return false
		}
	}
	return true
}

// insert adds the mapping [start, end) (which must be free), merging with
// neighbours of the same protection. It reports false if the table is full.
//
//go:nosplit
func insert(start, end uintptr, prot uint32) bool {
	i := 0
	for i < nvmas && i < len(vmas) && vmas[i].start < start {
		i++
	}
	if i >= len(vmas) {
		return false
	}
	mergePrev := i > 0 && vmas[i-1].end == start && vmas[i-1].prot == prot
	mergeNext := i < nvmas && vmas[i].start == end && vmas[i].prot == prot
	switch {
	case mergePrev && mergeNext:
		vmas[i-1].end = vmas[i].end
		remove(i)
	case mergePrev:
		vmas[i-1].end = end
	case mergeNext:
		vmas[i].start = start
	default:
		if nvmas == maxVMAs {
			return false
		}
		for j := nvmas; j > i && j < len(vmas); j-- {
			vmas[j] = vmas[j-1]
		}
		vmas[i] = vma{start, end, prot}
		nvmas++
	}
	return true
}

//go:nosplit
func remove(i int) {
	for j := i; j >= 0 && j < nvmas-1 && j+1 < len(vmas); j++ {
		vmas[j] = vmas[j+1]
	}
	nvmas--
}

// carve removes [start, end) from the mapping table, splitting mappings
// that straddle its edges. It does not touch page tables.
//
//go:nosplit
func carve(start, end uintptr) bool {
	for i := 0; i < nvmas && i < len(vmas); i++ {
		v := vmas[i]
		if v.end <= start || v.start >= end {
			continue
		}
		switch {
		case v.start < start && v.end > end: // split in two
			if nvmas == maxVMAs {
				return false
			}
			for j := nvmas; j > i+1 && j < len(vmas); j-- {
				vmas[j] = vmas[j-1]
			}
			nvmas++
			vmas[i].end = start
			if i+1 < len(vmas) {
				vmas[i+1] = vma{end, v.end, v.prot}
			}
			return true
		case v.start < start:
			vmas[i].end = start
		case v.end > end:
			vmas[i].start = end
		default:
			remove(i)
			i--
		}
	}
	return true
}

// freePages unmaps every present page in [start, end) and frees its frame.
//
//go:nosplit
func freePages(start, end uintptr) {
	freed := false
	for va := start; va < end; va += PageSize {
		if pa, ok := UnmapPage(va); ok {
			FreeFrame(pa)
			freed = true
		}
	}
	if freed {
		// Other CPUs may still cache the old translations. (The frames
		// could be reused before they flush, but every CPU is either in
		// ring 3 or waiting for the kernel lock, which this one holds
		// until all have flushed.)
		shootdown()
	}
}

// Map creates an anonymous mapping of length bytes (page-aligned) and
// returns its address, or 0 with an errno-style reason:
// fixed places it at hint exactly, replacing what was there; otherwise hint
// is used if free and a free range is found top-down if not.
//
//go:nosplit
func Map(hint, length uintptr, prot uint32, fixed bool) uintptr {
	length = pageUp(length)
	if length == 0 || length > UserMax {
		return 0
	}
	var addr uintptr
	switch {
	case fixed:
		if hint&(PageSize-1) != 0 || hint < UserMin || hint+length > UserMax || hint+length < hint {
			return 0
		}
		Unmap(hint, length)
		addr = hint
	case hint >= UserMin && hint&(PageSize-1) == 0 && hint+length <= UserMax && hint+length > hint && isFree(hint, hint+length):
		addr = hint
	default:
		addr = findFree(length)
		if addr == 0 {
			return 0
		}
	}
	if !insert(addr, addr+length, prot) {
		return 0
	}
	return addr
}

// findFree returns the highest free range of length bytes below mmapBase.
//
//go:nosplit
func findFree(length uintptr) uintptr {
	top := uintptr(mmapBase)
	for i := nvmas - 1; i >= -1; i-- {
		bottom := uintptr(UserMin)
		if i >= 0 {
			if vmas[i].start >= top {
				continue
			}
			bottom = vmas[i].end
		}
		if top >= bottom+length && top-length >= bottom {
			return top - length
		}
		if i >= 0 {
			top = vmas[i].start
		}
	}
	return 0
}

// Unmap removes the mappings in [addr, addr+length) and frees their pages.
//
//go:nosplit
func Unmap(addr, length uintptr) bool {
	end := pageUp(addr + length)
	if !carve(addr, end) {
		return false
	}
	freePages(addr, end)
	return true
}

// Discard implements MADV_DONTNEED: the pages' frames are freed and the
// next touch maps zeroed pages; the mapping stays.
//
//go:nosplit
func Discard(addr, length uintptr) {
	freePages(addr, pageUp(addr+length))
}

// Protect changes the protection of [addr, addr+length). It reports false
// if part of the range is not mapped (ENOMEM).
//
//go:nosplit
func Protect(addr, length uintptr, prot uint32) bool {
	end := pageUp(addr + length)
	for va := addr; va < end; {
		i := find(va)
		if i < 0 {
			return false
		}
		va = vmas[i].end
	}
	if !carve(addr, end) || !insert(addr, end, prot) {
		return false
	}
	for va := addr; va < end; va += PageSize {
		if Lookup(va)&PTEPresent != 0 {
			if prot == 0 {
				if pa, ok := UnmapPage(va); ok {
					FreeFrame(pa)
				}
				continue
			}
			SetFlags(va, pteFlags(prot))
		}
	}
	shootdown()
	return true
}

//go:nosplit
func pteFlags(prot uint32) uint64 {
	f := uint64(PTEUser)
	if prot&ProtWrite != 0 {
		f |= PTEWrite
	}
	if prot&ProtExec == 0 {
		f |= PTENoExec
	}
	return f
}

// Fault result codes.
const (
	FaultHandled = iota // a page was mapped; retry the access
	FaultNoMap          // no mapping: SIGSEGV with SEGV_MAPERR
	FaultAccess         // the mapping forbids the access: SEGV_ACCERR
	FaultNoMem          // out of memory
)

// HandleFault resolves a page fault at va by mapping a zeroed page if a
// mapping allows the access.
//
//go:nosplit
func HandleFault(va uintptr, write, exec bool) int {
	i := find(va)
	if i < 0 {
		return FaultNoMap
	}
	prot := vmas[i].prot
	if prot == 0 || (write && prot&ProtWrite == 0) || (exec && prot&ProtExec == 0) {
		return FaultAccess
	}
	page := pageDown(va)
	if e := Lookup(page); e&PTEPresent != 0 {
		// Another CPU mapped it while this one waited for the kernel lock
		// (or this CPU's TLB was stale): if the entry allows the access,
		// retrying it is all there is to do.
		if (!write || e&PTEWrite != 0) && (!exec || e&PTENoExec == 0) && e&PTEUser != 0 {
			return FaultHandled
		}
		return FaultAccess
	}
	f := AllocZeroFrame()
	if f == 0 {
		return FaultNoMem
	}
	if !MapPage(page, f, pteFlags(prot)) {
		FreeFrame(f)
		return FaultNoMem
	}
	return FaultHandled
}

// EnsureUser makes sure every page of [addr, addr+length) is mapped and
// allows the access, faulting pages in as needed, so the kernel can then
// copy to or from it without faulting. It reports false for a bad range
// (the system call returns EFAULT).
//
//go:nosplit
func EnsureUser(addr, length uintptr, write bool) bool {
	if length == 0 {
		return true
	}
	end := addr + length
	if addr < UserMin || end > UserMax || end < addr {
		return false
	}
	for va := pageDown(addr); va < end; va += PageSize {
		e := Lookup(va)
		if e&PTEPresent != 0 && e&PTEUser != 0 && (!write || e&PTEWrite != 0) {
			continue
		}
		if HandleFault(va, write, false) != FaultHandled {
			return false
		}
	}
	return true
}

// Mapped reports whether va lies in a mapping (for /proc/self/maps-like
// checks and tests).
//
//go:nosplit
func Mapped(va uintptr) bool { return find(va) >= 0 }

// RangeFree reports whether no mapping overlaps [addr, addr+length).
//
//go:nosplit
func RangeFree(addr, length uintptr) bool { return isFree(addr, addr+pageUp(length)) }

// MapPhysical makes the physical range [pa, pa+size) visible to the
// program at a new address, with the given extra PTE flags (PTENoCache for
// device registers). It returns the address, or 0.
//
//go:nosplit
func MapPhysical(pa, size uintptr, flags uint64) uintptr {
	size = pageUp(size + pa&(PageSize-1))
	base := pageDown(pa)
	va := findFree(size)
	if va == 0 || !insert(va, va+size, ProtRead|ProtWrite) {
		return 0
	}
	for off := uintptr(0); off < size; off += PageSize {
		if !MapPage(va+off, base+off, PTEUser|PTEWrite|PTENoExec|flags) {
			return 0
		}
	}
	return va + pa&(PageSize-1)
}

// shootdown makes the other CPUs drop stale translations (a variable so
// host tests can run without an APIC).
var shootdown = amd64.ShootdownAll
