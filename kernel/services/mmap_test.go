package services

import (
	"bytes"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// The file-mapping service runs on the host against tmpfs: its mmap and
// mprotect calls are the host's, and a fake stands in for the kernel's
// range mirror (FileMaps).
func setup(t *testing.T) (*vfs.VFS, map[uintptr]uintptr) {
	mirror := map[uintptr]uintptr{}
	fileMapsCall = func(op int, addr, length uintptr) error {
		switch op {
		case bridge.FileMapAdd:
			mirror[addr] = length
		case bridge.FileMapRemove:
			if mirror[addr] != length {
				t.Errorf("removing [%#x,+%#x), not registered", addr, length)
			}
			delete(mirror, addr)
		case bridge.FileMapUnmap:
			if _, _, e := syscall.Syscall(syscall.SYS_MUNMAP, addr, length, 0); e != 0 {
				return e
			}
		}
		return nil
	}
	t.Cleanup(func() { fileMapsCall = bridge.FileMaps })
	return vfs.New(tmpfs.New(tmpfs.Options{}), vfs.Options{}), mirror
}

func open(t *testing.T, v *vfs.VFS, flags int) (fdesc.Description, int32) {
	d, err := v.OpenAt(nil, "/f", flags|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := add(d)
	return d, h
}

func req(op int32, h int32, a ...uint64) *bridge.Request {
	r := &bridge.Request{Op: op, Handle: h, Slot: -1}
	copy(r.Args[:], a)
	return r
}

func addr(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }

func mapped(va int64, n int) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(va))), n) }

func TestSharedMappingCoherence(t *testing.T) {
	v, mirror := setup(t)
	d, h := open(t, v, syscall.O_RDWR)
	data := bytes.Repeat([]byte("abcdefgh"), 1024) // 8 KiB
	if r := do(req(bridge.OpPwrite, h, 0, addr(data), uint64(len(data)), 0)); r != int64(len(data)) {
		t.Fatalf("pwrite: %d", r)
	}
	ro := do(req(bridge.OpMmap, h, 0, 3*4096, protRead, mapShared, 3, 0))
	rw := do(req(bridge.OpMmap, h, 0, 4096, protRead|protWrite, mapShared, 3, 4096))
	if ro < 0 || rw < 0 || len(mirror) != 2 {
		t.Fatalf("mmap: %d %d, mirror %v", ro, rw, mirror)
	}
	if !bytes.Equal(mapped(ro, 8192), data) || mapped(ro, 12288)[8192] != 0 {
		t.Fatal("the read-only mapping does not hold the file")
	}
	// pwrite shows in the read-only mapping.
	w := []byte("WRITTEN")
	do(req(bridge.OpPwrite, h, 0, addr(w), uint64(len(w)), 100))
	if string(mapped(ro, 107)[100:]) != "WRITTEN" {
		t.Fatal("pwrite not seen through the mapping")
	}
	// A store through the writable mapping shows in pread, and, after
	// msync, in the other mapping.
	copy(mapped(rw, 4096), "STORE")
	buf := make([]byte, 5)
	do(req(bridge.OpPread, h, 0, addr(buf), 5, 4096))
	if string(buf) != "STORE" {
		t.Fatalf("pread after store: %q", buf)
	}
	if r := do(req(bridge.OpMsync, -1, uint64(rw), 4096, msSync)); r != 0 {
		t.Fatalf("msync: %d", r)
	}
	if string(mapped(ro, 4096+5)[4096:]) != "STORE" {
		t.Fatal("msync did not reach the other mapping")
	}
	// Closing the last fd keeps the file open for the mappings.
	release(h)
	if !closeMapped(d) {
		t.Fatal("a mapped description was closed")
	}
	// Unmapping the middle page of the read-only mapping splits it.
	if r := do(req(bridge.OpMunmap, -1, uint64(ro)+4096, 4096)); r != 0 {
		t.Fatalf("munmap middle: %d", r)
	}
	if len(mirror) != 3 || mirror[uintptr(ro)] != 4096 || mirror[uintptr(ro)+8192] != 4096 {
		t.Fatalf("mirror after the split: %v", mirror)
	}
	for _, a := range []int64{ro, ro + 8192, rw} {
		do(req(bridge.OpMunmap, -1, uint64(a), 4096))
	}
	if len(mirror) != 0 || nMaps.Load() != 0 || len(mappedOpen) != 0 || len(closedByFD) != 0 {
		t.Fatalf("left over: mirror %v, %d mappings, %v, %v", mirror, nMaps.Load(), mappedOpen, closedByFD)
	}
}

func TestMmapErrors(t *testing.T) {
	v, _ := setup(t)
	_, wo := open(t, v, syscall.O_WRONLY)
	if r := do(req(bridge.OpMmap, wo, 0, 4096, protRead, mapShared, 3, 0)); r != -int64(syscall.EACCES) {
		t.Errorf("write-only file: %d", r)
	}
	_, ro := open(t, v, syscall.O_RDONLY)
	if r := do(req(bridge.OpMmap, ro, 0, 4096, protRead|protWrite, mapShared, 3, 0)); r != -int64(syscall.EACCES) {
		t.Errorf("shared writable mapping of a read-only file: %d", r)
	}
	if r := do(req(bridge.OpMmap, ro, 0, 4096, protRead|protWrite, 0x02, 3, 0)); r < 0 {
		t.Errorf("private writable mapping of a read-only file: %d", r)
	}
	dir, err := v.OpenAt(nil, "/", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	dh, _ := add(dir)
	if r := do(req(bridge.OpMmap, dh, 0, 4096, protRead, 0x02, 3, 0)); r != -int64(syscall.ENODEV) {
		t.Errorf("directory: %d", r)
	}
}
