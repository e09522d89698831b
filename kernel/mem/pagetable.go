package mem

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
)

// Page-table entry bits (Intel SDM vol. 3, 4.5).
const (
	PTEPresent  = 1 << 0
	PTEWrite    = 1 << 1
	PTEUser     = 1 << 2
	PTEPWT      = 1 << 3
	PTENoCache  = 1 << 4
	PTEAccessed = 1 << 5
	PTEDirty    = 1 << 6
	PTEHuge     = 1 << 7 // 2 MiB page in a page directory
	PTEGlobal   = 1 << 8
	PTENoExec   = 1 << 63

	pteAddr = 0x000F_FFFF_FFFF_F000
)

// root is the physical address of the one PML4: Stardust has a single
// address space, shared by the kernel and the program.
var root uintptr

// Root returns the physical address of the PML4.
//
//go:nosplit
func Root() uintptr { return root }

// table returns the 512 entries of the page table at physical address pa.
//
//go:nosplit
func table(pa uintptr) *[512]uint64 {
	return (*[512]uint64)(unsafe.Pointer(P2V(pa)))
}

// walk returns the entry that maps va at the given level (1 = 4 KiB page
// table, 2 = page directory), creating intermediate tables when create is
// set. It returns nil if a table is missing (or memory ran out), or if a
// huge page is in the way.
//
//go:nosplit
func walk(va uintptr, level int, create bool) *uint64 {
	t := root
	for l := 4; l > level; l-- {
		idx := (va >> (12 + 9*(l-1))) & 511
		e := &table(t)[idx]
		if *e&PTEPresent == 0 {
			if !create {
				return nil
			}
			f := AllocZeroFrame()
			if f == 0 {
				return nil
			}
			// Intermediate entries grant everything; the leaf decides.
			*e = uint64(f) | PTEPresent | PTEWrite | PTEUser
		} else if *e&PTEHuge != 0 {
			return nil
		}
		t = uintptr(*e & pteAddr)
	}
	return &table(t)[(va>>(12+9*(level-1)))&511]
}

// MapPage maps the 4 KiB page at va to frame pa with the given PTE flags
// (PTEPresent is implied). It reports false if a page table could not be
// allocated.
//
//go:nosplit
func MapPage(va, pa uintptr, flags uint64) bool {
	e := walk(va, 1, true)
	if e == nil {
		return false
	}
	old := *e
	*e = uint64(pa)&pteAddr | flags | PTEPresent
	if old&PTEPresent != 0 {
		flushTLB(va)
	}
	return true
}

// mapHuge maps the 2 MiB page at va to pa (both 2 MiB aligned).
//
//go:nosplit
func mapHuge(va, pa uintptr, flags uint64) bool {
	e := walk(va, 2, true)
	if e == nil {
		return false
	}
	*e = uint64(pa)&pteAddr | flags | PTEPresent | PTEHuge
	return true
}

// UnmapPage removes the mapping of va and returns the frame it mapped.
//
//go:nosplit
func UnmapPage(va uintptr) (pa uintptr, ok bool) {
	e := walk(va, 1, false)
	if e == nil || *e&PTEPresent == 0 {
		return 0, false
	}
	pa = uintptr(*e & pteAddr)
	*e = 0
	flushTLB(va)
	return pa, true
}

// Lookup returns the leaf entry mapping va (4 KiB pages only), or 0.
//
//go:nosplit
func Lookup(va uintptr) uint64 {
	e := walk(va, 1, false)
	if e == nil {
		return 0
	}
	return *e
}

// SetFlags changes the flags of an existing 4 KiB mapping.
//
//go:nosplit
func SetFlags(va uintptr, flags uint64) {
	e := walk(va, 1, false)
	if e == nil || *e&PTEPresent == 0 {
		return
	}
	*e = *e&pteAddr | flags | PTEPresent
	flushTLB(va)
}

// flushTLB drops the TLB entry for va on this CPU. (A variable so host
// tests, which run in ring 3, can replace the privileged instruction.)
var flushTLB = amd64.Invlpg
