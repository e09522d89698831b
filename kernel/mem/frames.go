// Package mem manages physical and virtual memory: the physical frame
// allocator, x86-64 page tables, and the program's address space (its
// mappings, demand-zero paging and page faults).
//
// Execution context: trap context. Everything is //go:nosplit, allocates
// nothing from the Go heap and keeps kernel data outside it (as uintptrs),
// so it can run before the Go runtime starts and inside interrupt handlers.
//
// Physical memory is reached through the direct map, a supervisor-only
// mapping of all physical memory at DirectMapBase. Before the kernel's page
// tables are loaded the boot page tables identity-map the first GiB, and
// physToVirt is 0.
package mem

import "unsafe"

// PageSize is the size of a page and of a physical frame.
const PageSize = 4096

// DirectMapBase is where all of physical memory is mapped for the kernel.
const DirectMapBase = 0xFFFF_8000_0000_0000

// physToVirt is added to a physical address to reach it: 0 while the boot
// identity map is active, DirectMapBase afterwards.
var physToVirt uintptr

// P2V returns the kernel virtual address of physical address pa.
//
//go:nosplit
func P2V(pa uintptr) uintptr { return pa + physToVirt }

// Range is a range of physical memory [Start, End).
type Range struct{ Start, End uintptr }

// frameAllocator hands out 4 KiB frames. Freed frames go on a free list
// threaded through the frames themselves; when it is empty, frames are
// taken in address order from the free ranges ("bump" allocation), so
// memory the program never asks for is never touched, not even by the
// allocator itself.
type frameAllocator struct {
	ranges   [32]Range // free physical ranges, bumped from Start
	nranges  int
	freeList uintptr // physical address of the first free frame, or 0
	free     uintptr // frames available
	total    uintptr // frames managed
}

var frames frameAllocator

// AddRAM gives the range [start, end) of usable RAM to the allocator, minus
// the reserved ranges (which must be sorted by Start). The kernel calls it
// once per memory-map entry.
//
//go:nosplit
func AddRAM(start, end uintptr, reserved []Range) {
	start = pageUp(start)
	end = pageDown(end)
	for _, r := range reserved {
		rs, re := pageDown(r.Start), pageUp(r.End)
		if re <= start || rs >= end {
			continue
		}
		if rs > start {
			addRange(start, rs)
		}
		if re > start {
			start = re
		}
	}
	if start < end {
		addRange(start, end)
	}
}

//go:nosplit
func addRange(start, end uintptr) {
	if frames.nranges == len(frames.ranges) {
		return // more RAM ranges than any x86 firmware reports; ignore the rest
	}
	frames.ranges[frames.nranges] = Range{start, end}
	frames.nranges++
	n := (end - start) / PageSize
	frames.free += n
	frames.total += n
}

//go:nosplit
func pageUp(a uintptr) uintptr { return (a + PageSize - 1) &^ (PageSize - 1) }

//go:nosplit
func pageDown(a uintptr) uintptr { return a &^ (PageSize - 1) }

// AllocFrame returns the physical address of a free frame, or 0 if memory
// is exhausted. The frame's contents are undefined; see AllocZeroFrame.
//
//go:nosplit
func AllocFrame() uintptr {
	if f := frames.freeList; f != 0 {
		frames.freeList = *(*uintptr)(unsafe.Pointer(P2V(f)))
		frames.free--
		return f
	}
	for i := range frames.ranges { // range: no bounds checks on this deep path
		if i >= frames.nranges {
			break
		}
		r := &frames.ranges[i]
		if r.Start < r.End {
			f := r.Start
			r.Start += PageSize
			frames.free--
			return f
		}
	}
	return 0
}

// AllocZeroFrame returns a zeroed frame, or 0.
//
//go:nosplit
func AllocZeroFrame() uintptr {
	f := AllocFrame()
	if f != 0 {
		zeroPage(P2V(f))
	}
	return f
}

// FreeFrame returns frame f to the allocator.
//
//go:nosplit
func FreeFrame(f uintptr) {
	*(*uintptr)(unsafe.Pointer(P2V(f))) = frames.freeList
	frames.freeList = f
	frames.free++
}

// FreeFrames reports how many frames are free and how many exist.
//
//go:nosplit
func FreeFrames() (free, total uintptr) { return frames.free, frames.total }

//go:nosplit
func zeroPage(va uintptr) {
	p := (*[PageSize / 8]uint64)(unsafe.Pointer(va))
	for i := range p {
		p[i] = 0
	}
}

// resetFrames forgets all memory; for tests.
func resetFrames() { frames = frameAllocator{} }

// AllocContiguous returns n physically contiguous, zeroed frames (for
// device DMA), taken from the never-used part of a free range, or 0.
//
//go:nosplit
func AllocContiguous(n uintptr) uintptr {
	for i := range frames.ranges {
		if i >= frames.nranges {
			break
		}
		r := &frames.ranges[i]
		if r.End-r.Start >= n*PageSize {
			f := r.Start
			r.Start += n * PageSize
			frames.free -= n
			for j := uintptr(0); j < n; j++ {
				zeroPage(P2V(f + j*PageSize))
			}
			return f
		}
	}
	return 0
}
