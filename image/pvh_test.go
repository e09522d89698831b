package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	once     sync.Once
	kernelEL []byte // a real Go program with the kernel linked in
	plainEL  []byte // the same without it
	buildErr error
)

// programs builds examples/hello twice: with the kernel (as stardust build
// does, through an overlay) and without.
func programs(t *testing.T) ([]byte, []byte) {
	t.Helper()
	once.Do(func() {
		dir, err := os.MkdirTemp("", "image-test-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		hello, _ := filepath.Abs("../examples/hello")
		kfile := filepath.Join(dir, "k.go")
		os.WriteFile(kfile, []byte("package main\nimport _ \"github.com/stardust-go/stardust/kernel\"\n"), 0o644)
		ov := filepath.Join(dir, "ov.json")
		os.WriteFile(ov, []byte(`{"Replace":{"`+filepath.Join(hello, "zz_k.go")+`":"`+kfile+`"}}`), 0o644)
		build := func(out string, args ...string) []byte {
			cmd := exec.Command("go", append(append([]string{"build", "-o", out}, args...), hello)...)
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
			if o, err := cmd.CombinedOutput(); err != nil {
				buildErr = err
				t.Logf("%s", o)
				return nil
			}
			b, _ := os.ReadFile(out)
			return b
		}
		kernelEL = build(filepath.Join(dir, "k"), "-overlay", ov)
		plainEL = build(filepath.Join(dir, "p"))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return kernelEL, plainEL
}

func TestMakeBootableAddsPVHNote(t *testing.T) {
	k, _ := programs(t)
	img, err := MakeBootable(k)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := PVHEntry(img)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := elf.NewFile(bytes.NewReader(img))
	syms, _ := f.Symbols()
	found := false
	for _, s := range syms {
		if s.Name == EntrySymbol && s.Value == uint64(entry) {
			found = true
		}
	}
	if !found {
		t.Fatalf("note entry %#x is not %s", entry, EntrySymbol)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_GNU_STACK {
			t.Fatal("PT_GNU_STACK still present (it should have become the note)")
		}
		if p.Type == elf.PT_NOTE && p.Off >= uint64(len(k)) && p.Align != 4 {
			t.Fatalf("PVH note p_align = %d, QEMU needs 4", p.Align)
		}
	}
	// Symbols and DWARF survive, for symbolizing and debugging.
	if f.Section(".gopclntab") == nil || f.Section(".debug_info") == nil && f.Section(".zdebug_info") == nil {
		t.Fatal("symbol or debug sections lost")
	}
}

func TestRejectsProgramsWithoutTheKernel(t *testing.T) {
	_, p := programs(t)
	_, err := MakeBootable(p)
	if err == nil || !strings.Contains(err.Error(), "kernel is not linked in") {
		t.Fatalf("error %v", err)
	}
	if _, err := PVHEntry(p); err == nil {
		t.Fatal("PVHEntry accepted a plain program")
	}
}

// TestRejectsMalformed feeds corrupted ELF files: each must give an error,
// never a panic or an image.
func TestRejectsMalformed(t *testing.T) {
	k, _ := programs(t)
	mutate := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), k...)
		return f(b)
	}
	phoff := binary.LittleEndian.Uint64(k[32:])
	cases := map[string][]byte{
		"empty":             {},
		"text":              []byte("#!/bin/sh\necho hi\n"),
		"truncated":         k[:200],
		"32-bit":            mutate(func(b []byte) []byte { b[4] = 1; return b }),
		"big-endian":        mutate(func(b []byte) []byte { b[5] = 2; return b }),
		"arm64":             mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[18:], uint16(elf.EM_AARCH64)); return b }),
		"shared object":     mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[16:], uint16(elf.ET_DYN)); return b }),
		"phdrs out of file": mutate(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[32:], uint64(len(b))); return b }),
		"segment above 1 GiB": mutate(func(b []byte) []byte {
			for i := uint64(0); i < uint64(binary.LittleEndian.Uint16(b[56:])); i++ {
				ph := b[phoff+i*56:]
				if elf.ProgType(binary.LittleEndian.Uint32(ph)) == elf.PT_LOAD {
					binary.LittleEndian.PutUint64(ph[40:], 2<<30) // memsz
				}
			}
			return b
		}),
		"no symbols": mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[40:], 0)
			binary.LittleEndian.PutUint16(b[60:], 0)
			return b
		}),
	}
	for name, b := range cases {
		img, err := MakeBootable(b)
		if err == nil || img != nil {
			t.Errorf("%s: accepted (err %v)", name, err)
		}
	}
}

func FuzzMakeBootable(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		MakeBootable(b) // must not panic
		PVHEntry(b)
	})
}
