// Package image turns the ELF file the Go linker writes into a Stardust
// image: the same file, plus the ELF note that makes it bootable with the
// PVH boot protocol (XEN_ELFNOTE_PHYS32_ENTRY pointing at the kernel's
// 32-bit entry point). Symbols and DWARF are kept, so crashes can be
// symbolized and the debugger can read the image.
//
// It runs on the host (in `stardust build`), not in the kernel.
package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// EntrySymbol is the kernel's PVH entry point (assembly, hence ABI0).
const EntrySymbol = "github.com/stardust-go/stardust/kernel/arch/amd64.pvhEntry.abi0"

// ImageBase is where Go's linker puts linux/amd64 programs and where the
// kernel expects the ELF headers.
const ImageBase = 0x400000

// maxLoadAddr: the boot trampoline identity-maps the first GiB only.
const maxLoadAddr = 1 << 30

// Xen ELF note: name "Xen", type XEN_ELFNOTE_PHYS32_ENTRY.
const (
	noteName        = "Xen"
	notePhys32Entry = 18
	noteSize        = 12 + 4 + 4 // header, "Xen\0", 32-bit entry
)

// Error describes why an ELF file cannot become an image.
type Error struct{ Reason string }

func (e *Error) Error() string { return "not bootable: " + e.Reason }

func reject(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// MakeBootable returns the image for the Go program in elfBytes.
func MakeBootable(elfBytes []byte) ([]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(elfBytes))
	if err != nil {
		return nil, reject("not an ELF file: %v", err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Data != elf.ELFDATA2LSB {
		return nil, reject("want a 64-bit little-endian x86-64 ELF, got %v %v %v", f.Class, f.Machine, f.Data)
	}
	if f.Type != elf.ET_EXEC {
		return nil, reject("want a statically linked executable (ET_EXEC), got %v (build with CGO_ENABLED=0, no -buildmode=pie)", f.Type)
	}
	stackPhdr := -1
	firstLoad := true
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP, elf.PT_DYNAMIC:
			return nil, reject("the program is dynamically linked (%v); build with CGO_ENABLED=0", p.Type)
		case elf.PT_TLS:
			return nil, reject("the program has a PT_TLS segment (C thread-locals); build with CGO_ENABLED=0")
		case elf.PT_GNU_STACK:
			stackPhdr = i
		case elf.PT_LOAD:
			if firstLoad && (p.Vaddr != ImageBase || p.Off != 0) {
				return nil, reject("the first PT_LOAD must map the ELF headers at %#x (got %#x, offset %#x); was -ldflags=-T used?", ImageBase, p.Vaddr, p.Off)
			}
			firstLoad = false
			if p.Paddr != p.Vaddr {
				return nil, reject("segment at %#x has physical address %#x; the image must be identity-linked", p.Vaddr, p.Paddr)
			}
			if p.Vaddr+p.Memsz > maxLoadAddr || p.Vaddr+p.Memsz < p.Vaddr {
				return nil, reject("segment %#x+%#x ends above 1 GiB, which the boot page tables do not map", p.Vaddr, p.Memsz)
			}
			if p.Off+p.Filesz > uint64(len(elfBytes)) {
				return nil, reject("segment at %#x extends past the end of the file", p.Vaddr)
			}
		}
	}
	if firstLoad {
		return nil, reject("no PT_LOAD segments")
	}
	if stackPhdr < 0 {
		return nil, reject("no PT_GNU_STACK program header to turn into the PVH note")
	}
	entry, err := findEntry(f)
	if err != nil {
		return nil, err
	}

	// Append the note (4-byte aligned) and repoint the PT_GNU_STACK program
	// header at it as a PT_NOTE. QEMU reads notes from PT_NOTE segments and
	// pads by p_align, which must be 4 for a 4-byte descriptor.
	out := append([]byte(nil), elfBytes...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	noteOff := uint64(len(out))
	var note [noteSize]byte
	binary.LittleEndian.PutUint32(note[0:], uint32(len(noteName)+1))
	binary.LittleEndian.PutUint32(note[4:], 4)
	binary.LittleEndian.PutUint32(note[8:], notePhys32Entry)
	copy(note[12:], noteName)
	binary.LittleEndian.PutUint32(note[16:], uint32(entry))
	out = append(out, note[:]...)

	phoff := binary.LittleEndian.Uint64(elfBytes[32:])
	phentsize := uint64(binary.LittleEndian.Uint16(elfBytes[54:]))
	ph := out[phoff+uint64(stackPhdr)*phentsize:]
	binary.LittleEndian.PutUint32(ph[0:], uint32(elf.PT_NOTE))
	binary.LittleEndian.PutUint32(ph[4:], uint32(elf.PF_R))
	binary.LittleEndian.PutUint64(ph[8:], noteOff) // p_offset
	binary.LittleEndian.PutUint64(ph[16:], 0)      // p_vaddr
	binary.LittleEndian.PutUint64(ph[24:], 0)      // p_paddr
	binary.LittleEndian.PutUint64(ph[32:], noteSize)
	binary.LittleEndian.PutUint64(ph[40:], noteSize)
	binary.LittleEndian.PutUint64(ph[48:], 4) // p_align
	return out, nil
}

func findEntry(f *elf.File) (uint64, error) {
	syms, err := f.Symbols()
	if err != nil {
		return 0, reject("no symbol table (was the program built with -ldflags=-s?): %v", err)
	}
	for _, s := range syms {
		if s.Name == EntrySymbol {
			if s.Value >= maxLoadAddr {
				return 0, reject("entry point %#x is above 1 GiB", s.Value)
			}
			return s.Value, nil
		}
	}
	return 0, reject("the Stardust kernel is not linked in (no %s); build with `stardust build`", EntrySymbol)
}

// PVHEntry returns the PVH entry point of an image, or an error if it has
// none: the check `stardust run` makes before starting a hypervisor.
func PVHEntry(img []byte) (uint32, error) {
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return 0, reject("not an ELF file: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		for len(data) >= 12 {
			namesz := binary.LittleEndian.Uint32(data[0:])
			descsz := binary.LittleEndian.Uint32(data[4:])
			typ := binary.LittleEndian.Uint32(data[8:])
			nameEnd := 12 + (uint64(namesz)+3)&^3
			descEnd := nameEnd + (uint64(descsz)+3)&^3
			if descEnd > uint64(len(data)) {
				break
			}
			if typ == notePhys32Entry && namesz == 4 && string(data[12:15]) == noteName && descsz >= 4 {
				return binary.LittleEndian.Uint32(data[nameEnd:]), nil
			}
			data = data[descEnd:]
		}
	}
	return 0, errors.New("not a Stardust image: no PVH entry note (build it with `stardust build`)")
}
