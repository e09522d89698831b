package linux

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
)

// TestVDSOImage reads the vDSO the way Go's runtime does
// (runtime/vdso_linux.go): the first PT_LOAD gives the load offset,
// PT_DYNAMIC the tables; the symbol is found through the SysV hash and
// must carry version LINUX_2.6; its address must be the clock function.
func TestVDSOImage(t *testing.T) {
	base := vdsoAddr()
	img := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(base))), vdsoSize)
	if again := vdsoAddr(); again != base {
		t.Fatalf("vdsoAddr moved: %#x then %#x", base, again)
	}
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_DYN {
		t.Fatalf("class %v machine %v type %v", f.Class, f.Machine, f.Type)
	}
	var load, dyn *elf.Prog
	for _, p := range f.Progs {
		switch {
		case p.Type == elf.PT_LOAD && load == nil:
			load = p
		case p.Type == elf.PT_DYNAMIC:
			dyn = p
		}
	}
	if load == nil || dyn == nil || load.Memsz < uint64(vdsoSize) {
		t.Fatalf("program headers: load %v dynamic %v", load, dyn)
	}
	loadOffset := base + load.Off - load.Vaddr
	le := binary.LittleEndian
	u32 := func(off uint64) uint32 { return le.Uint32(img[off:]) }
	tags := map[uint64]uint64{}
	for off := dyn.Off; ; off += 16 {
		tag, val := le.Uint64(img[off:]), le.Uint64(img[off+8:])
		if tag == 0 {
			break
		}
		tags[tag] = val
	}
	at := func(tag uint64) uint64 { // an offset into img
		v, ok := tags[tag]
		if !ok {
			t.Fatalf("dynamic tag %#x missing", tag)
		}
		return loadOffset + v - base
	}
	hash, strtab, symtab, verdef := at(uint64(elf.DT_HASH)), at(uint64(elf.DT_STRTAB)), at(uint64(elf.DT_SYMTAB)), at(uint64(elf.DT_VERDEF))
	str := func(off uint32) string {
		s := img[strtab+uint64(off):]
		return string(s[:bytes.IndexByte(s, 0)])
	}

	// The version index of LINUX_2.6.
	version := -1
	for d := verdef; ; {
		flags, ndx, vhash := le.Uint16(img[d+2:]), le.Uint16(img[d+4:]), u32(d+8)
		if flags&1 == 0 && vhash == vdsoVersionHash && str(u32(d+uint64(u32(d+12)))) == "LINUX_2.6" {
			version = int(ndx)
		}
		if u32(d+16) == 0 {
			break
		}
		d += uint64(u32(d + 16))
	}
	if version < 0 {
		t.Fatal("no version LINUX_2.6")
	}

	// The runtime's hash walk for each symbol it wants.
	nbucket := u32(hash)
	lookup := func(name string, symHash uint32) (uint64, bool) {
		for i := u32(hash + 8 + 4*uint64(symHash%nbucket)); i != 0; i = u32(hash + 8 + 4*uint64(nbucket) + 4*uint64(i)) {
			s := symtab + 24*uint64(i)
			info, shndx := img[s+4], le.Uint16(img[s+6:])
			if info&0xF == byte(elf.STT_FUNC) && info>>4 == byte(elf.STB_GLOBAL) && shndx != 0 && str(u32(s)) == name {
				return loadOffset + le.Uint64(img[s+8:]), true
			}
		}
		return 0, false
	}
	addr, ok := lookup("__vdso_clock_gettime", 0xd35ec75)
	if !ok {
		t.Fatal("__vdso_clock_gettime not found through the hash table")
	}
	if addr != uint64(amd64.VDSOClockGettimePC()) {
		t.Errorf("__vdso_clock_gettime at %#x, want %#x", addr, amd64.VDSOClockGettimePC())
	}
	if _, ok := lookup("__vdso_gettimeofday", 0x315ca59); ok {
		t.Error("found __vdso_gettimeofday, which the vDSO does not define")
	}
}
