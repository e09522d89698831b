package mem

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
)

// KernelStackBase is the start of the region where threads' kernel stacks
// are mapped (supervisor-only, each followed by an unmapped guard page).
const KernelStackBase = 0xFFFF_C000_0000_0000

// BuildKernelSpace creates the kernel's page tables: the direct map of
// physical memory below maxPhys (2 MiB pages, supervisor-only,
// non-executable; ranges that are not RAM are mapped uncached, since they
// may be device registers). It does not load them; see Activate.
//
//go:nosplit
func BuildKernelSpace(maxPhys uintptr, ram []Range) bool {
	root = AllocZeroFrame()
	if root == 0 {
		return false
	}
	if len(ram) > 0 {
		ramAddr, ramCount = uintptr(unsafe.Pointer(&ram[0])), uintptr(len(ram))
	}
	const huge = 2 << 20
	for pa := uintptr(0); pa < maxPhys; pa += huge {
		flags := uint64(PTEWrite | PTENoExec | PTEGlobal)
		if !overlapsRAM(pa, pa+huge, ram) {
			flags |= PTENoCache | PTEPWT
		}
		if !mapHuge(DirectMapBase+pa, pa, flags) {
			return false
		}
	}
	return true
}

// The RAM ranges, kept as an address and a count (a slice in a global
// would be a pointer store, which trap context avoids).
var ramAddr, ramCount uintptr

// OverlapsRAM reports whether [start, end) touches RAM.
//
//go:nosplit
func OverlapsRAM(start, end uintptr) bool {
	if ramCount == 0 {
		return true // not known yet: refuse
	}
	return overlapsRAM(start, end, unsafe.Slice((*Range)(unsafe.Pointer(ramAddr)), ramCount))
}

//go:nosplit
func overlapsRAM(start, end uintptr, ram []Range) bool {
	for _, r := range ram {
		if r.Start < end && r.End > start {
			return true
		}
	}
	return false
}

// MapIdentity maps [start, end) to the same physical addresses with the
// given flags, in 4 KiB pages. The program image is mapped this way.
//
//go:nosplit
func MapIdentity(start, end uintptr, flags uint64) bool {
	for va := pageDown(start); va < end; va += PageSize {
		if !MapPage(va, va, flags) {
			return false
		}
	}
	return true
}

// Activate loads the kernel's page tables. From now on physical memory is
// reached through the direct map.
//
//go:nosplit
func Activate() {
	amd64.WriteCR3(uint64(root))
	physToVirt = DirectMapBase
}

// MapKernelStack maps a kernel stack of size bytes for thread slot i and
// returns its top, or 0 if memory ran out. The page below it stays
// unmapped, so an overflow faults instead of corrupting the neighbour.
//
//go:nosplit
func MapKernelStack(i int, size uintptr) uintptr {
	base := KernelStackBase + uintptr(i)*(size+PageSize) + PageSize
	for va := base; va < base+size; va += PageSize {
		if Lookup(va)&PTEPresent != 0 {
			continue // reused slot
		}
		f := AllocFrame()
		if f == 0 || !MapPage(va, f, PTEWrite|PTENoExec) {
			return 0
		}
	}
	return base + size
}

// MapDevice maps the physical MMIO range [pa, pa+size) uncached at
// DirectMapBase+pa (for devices above the RAM direct map) and returns its
// virtual address.
//
//go:nosplit
func MapDevice(pa, size uintptr) uintptr {
	for p := pageDown(pa); p < pa+size; p += PageSize {
		va := DirectMapBase + p
		if e := walk(va, 2, false); e != nil && *e&PTEHuge != 0 {
			continue // already covered by the direct map
		}
		if !MapPage(va, p, PTEWrite|PTENoExec|PTENoCache|PTEPWT) {
			return 0
		}
	}
	return DirectMapBase + pa
}
