package kernel

import "unsafe"

// The program reads its own ELF headers, as Linux's loader would, to learn
// the entry point and which segments are text and which data. The image
// writer guarantees the first PT_LOAD maps the headers at imageBase.

const (
	ptLoad = 1
	pfX    = 1
	pfW    = 2
	pfR    = 4
)

type segment struct {
	vaddr, memsz, filesz uintptr
	flags                uint32
}

type image struct {
	entry, phdr uintptr
	phnum       int
	start, end  uintptr // the lowest and highest address of any PT_LOAD
	segs        [8]segment
	nseg        int
}

//go:nosplit
func readImage(img *image) bool {
	h := (*[64]byte)(unsafe.Pointer(uintptr(imageBase)))
	if h[0] != 0x7F || h[1] != 'E' || h[2] != 'L' || h[3] != 'F' || h[4] != 2 {
		return false
	}
	img.entry = *(*uintptr)(unsafe.Pointer(&h[24]))
	phoff := *(*uint64)(unsafe.Pointer(&h[32]))
	img.phnum = int(*(*uint16)(unsafe.Pointer(&h[56])))
	img.phdr = imageBase + uintptr(phoff)
	img.start = ^uintptr(0)
	for i := 0; i < img.phnum; i++ {
		p := img.phdr + uintptr(i)*56
		if *(*uint32)(unsafe.Pointer(p)) != ptLoad || img.nseg == len(img.segs) {
			continue
		}
		s := segment{
			flags:  *(*uint32)(unsafe.Pointer(p + 4)),
			vaddr:  *(*uintptr)(unsafe.Pointer(p + 16)),
			filesz: *(*uintptr)(unsafe.Pointer(p + 32)),
			memsz:  *(*uintptr)(unsafe.Pointer(p + 40)),
		}
		img.segs[img.nseg] = s
		img.nseg++
		if s.vaddr < img.start {
			img.start = s.vaddr
		}
		if s.vaddr+s.memsz > img.end {
			img.end = s.vaddr + s.memsz
		}
	}
	return img.nseg > 0 && img.start == imageBase
}
