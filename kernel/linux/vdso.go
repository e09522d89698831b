package linux

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
)

// The vDSO: the smallest shared object Go's runtime accepts
// (runtime/vdso_linux.go), offered through AT_SYSINFO_EHDR. It holds no
// code: its one symbol, __vdso_clock_gettime at version LINUX_2.6,
// points at amd64's VDSOClockGettime in the image's text, which the
// program may execute anyway (one address space). The runtime resolves a
// symbol as the image's address plus st_value, so st_value is that
// function's address minus the image's.
//
// Layout (offsets in bytes):
//
//	0    ELF header
//	64   program headers: PT_LOAD (the whole image), PT_DYNAMIC
//	176  dynamic section: DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ,
//	     DT_SYMENT, DT_VERDEF, DT_VERDEFNUM, DT_NULL
//	304  SysV hash table: one bucket, two symbols
//	328  symbol table: the null symbol, __vdso_clock_gettime
//	376  version definition LINUX_2.6 and its aux entry
//	404  string table
const (
	vdsoPhdrs   = 64
	vdsoDynamic = 176
	vdsoHash    = 304
	vdsoSymtab  = 328
	vdsoVerdef  = 376
	vdsoStrtab  = 404
	vdsoStrings = "\x00__vdso_clock_gettime\x00LINUX_2.6\x00"
	vdsoSize    = vdsoStrtab + len(vdsoStrings)

	vdsoNameClockGettime = 1
	vdsoNameVersion      = 22
	vdsoVersionHash      = 0x3ae75f6 // ELF hash of "LINUX_2.6"
)

// vdsoDyn is the dynamic section.
var vdsoDyn = [...][2]uint64{
	{4, vdsoHash},                  // DT_HASH
	{5, vdsoStrtab},                // DT_STRTAB
	{6, vdsoSymtab},                // DT_SYMTAB
	{10, uint64(len(vdsoStrings))}, // DT_STRSZ
	{11, 24},                       // DT_SYMENT
	{0x6ffffffc, vdsoVerdef},       // DT_VERDEF
	{0x6ffffffd, 1},                // DT_VERDEFNUM
	{0, 0},                         // DT_NULL
}

var vdso [(vdsoSize + 7) / 8]uint64 // 8-byte aligned

// vdsoAddr builds the vDSO (once) and returns its address.
//
//go:nosplit
func vdsoAddr() uint64 {
	b := (*[vdsoSize]byte)(unsafe.Pointer(&vdso[0]))
	if b[0] == 0x7F {
		return uint64(uintptr(unsafe.Pointer(b)))
	}
	base := uint64(uintptr(unsafe.Pointer(b)))
	w16(b[:], 16, 3)  // e_type ET_DYN
	w16(b[:], 18, 62) // e_machine EM_X86_64
	w32(b[:], 20, 1)  // e_version
	w64(b[:], 32, vdsoPhdrs)
	w16(b[:], 52, 64) // e_ehsize
	w16(b[:], 54, 56) // e_phentsize
	w16(b[:], 56, 2)  // e_phnum

	w32(b[:], vdsoPhdrs, 1)   // PT_LOAD
	w32(b[:], vdsoPhdrs+4, 5) // R+X
	w64(b[:], vdsoPhdrs+32, uint64(vdsoSize))
	w64(b[:], vdsoPhdrs+40, uint64(vdsoSize))
	w64(b[:], vdsoPhdrs+48, 4096)
	w32(b[:], vdsoPhdrs+56, 2)   // PT_DYNAMIC
	w32(b[:], vdsoPhdrs+56+4, 4) // R
	w64(b[:], vdsoPhdrs+56+8, vdsoDynamic)
	w64(b[:], vdsoPhdrs+56+16, vdsoDynamic)
	w64(b[:], vdsoPhdrs+56+32, vdsoHash-vdsoDynamic)
	w64(b[:], vdsoPhdrs+56+40, vdsoHash-vdsoDynamic)
	w64(b[:], vdsoPhdrs+56+48, 8)

	for i := range vdsoDyn {
		w64(b[:], vdsoDynamic+16*i, vdsoDyn[i][0])
		w64(b[:], vdsoDynamic+16*i+8, vdsoDyn[i][1])
	}

	// Hash: nbucket 1, nchain 2, bucket[0] = symbol 1, chain[0] = chain[1] = 0.
	w32(b[:], vdsoHash, 1)
	w32(b[:], vdsoHash+4, 2)
	w32(b[:], vdsoHash+8, 1)

	sym := vdsoSymtab + 24
	w32(b[:], sym, vdsoNameClockGettime)
	b[sym+4] = 0x12          // STB_GLOBAL, STT_FUNC
	w16(b[:], sym+6, 0xFFF1) // SHN_ABS: defined
	w64(b[:], sym+8, uint64(amd64.VDSOClockGettimePC())-base)

	// Verdef: version 1, flags 0, index 2, one aux entry right after.
	w16(b[:], vdsoVerdef, 1)
	w16(b[:], vdsoVerdef+4, 2)
	w16(b[:], vdsoVerdef+6, 1)
	w32(b[:], vdsoVerdef+8, vdsoVersionHash)
	w32(b[:], vdsoVerdef+12, 20)
	w32(b[:], vdsoVerdef+20, vdsoNameVersion)

	for i := 0; i < len(vdsoStrings); i++ {
		b[vdsoStrtab+i] = vdsoStrings[i]
	}
	// The magic last: it marks the image built.
	b[1], b[2], b[3], b[4], b[5], b[6] = 'E', 'L', 'F', 2, 1, 1
	b[0] = 0x7F
	return base
}

//go:nosplit
func w16(b []byte, off int, v uint16) { b[off], b[off+1] = byte(v), byte(v>>8) }

//go:nosplit
func w32(b []byte, off int, v uint32) {
	w16(b, off, uint16(v))
	w16(b, off+2, uint16(v>>16))
}

//go:nosplit
func w64(b []byte, off int, v uint64) {
	w32(b, off, uint32(v))
	w32(b, off+4, uint32(v>>32))
}
