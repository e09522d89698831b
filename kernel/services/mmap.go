package services

import (
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/fdesc"
)

// File mappings.
//
// There is one address space and one process, so a mapping's memory can
// be its own page cache. mmap of a regular file maps anonymous memory,
// reads the file into it and sets the protection asked for; the kernel
// does the demand paging, as for any memory.
//
// MAP_PRIVATE mappings are then ordinary private memory (Linux leaves it
// unspecified whether later changes to the file show through pages not
// yet touched; here none do).
//
// MAP_SHARED mappings are kept coherent with the file, both ways:
//   - write(2) to a file (through any description) also updates the part
//     of every shared mapping of it that covers the written range;
//   - before read(2) of a file, writable shared mappings of it are
//     written back, so what the program stored is what read returns;
//   - msync and munmap write writable shared mappings back (MS_SYNC also
//     makes it durable, as fdatasync).
//
// Writable mappings are written back whole (no dirty-page tracking), so
// msync of a large writable mapping costs a write of all of it. Embedded
// databases (bbolt) map read-only and write with pwrite, the cheap case.
// A mapping keeps its file description open until it is unmapped, as on
// Linux. The kernel forwards munmap and msync only for ranges registered
// with bridge.FileMaps, so the runtime's own munmaps never wait here.

type fileMapping struct {
	addr, length uintptr
	off          int64
	prot         uint32
	key          [2]uint64 // st_dev, st_ino of the file
	d            fdesc.Description
}

var (
	mapMu    sync.Mutex
	fileMaps []*fileMapping // shared mappings, sorted by addr
	nMaps    atomic.Int32   // len(fileMaps), read without the lock
	// mappedOpen counts, per description, the shared mappings that use
	// it; closedByFD marks descriptions whose last fd was closed while
	// mapped (closed when the last mapping goes).
	mappedOpen = map[fdesc.Description]int{}
	closedByFD = map[fdesc.Description]bool{}
)

const (
	protRead  = 1
	protWrite = 2
	mapShared = 0x01
	mapFixed  = 0x10
	mapFixNR  = 0x100000
	msSync    = 4
	pageSize  = 4096
)

func fileKey(d fdesc.Description) ([2]uint64, bool) {
	var st syscall.Stat_t
	if d.Stat(&st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return [2]uint64{}, false
	}
	return [2]uint64{st.Dev, st.Ino}, true
}

// mappedKey returns d's file identity if d is a regular file and any
// shared mapping exists (the cheap test first: reads and writes pass here).
func mappedKey(d fdesc.Description) ([2]uint64, bool) {
	if nMaps.Load() == 0 {
		return [2]uint64{}, false
	}
	return fileKey(d)
}

// mmapFile answers OpMmap: Args are mmap's (addr, len, prot, flags, fd, off).
func mmapFile(d fdesc.Description, a [6]uint64) int64 {
	addr, length, prot, flags, off := uintptr(a[0]), uintptr(a[1]), uint32(a[2]), a[3], int64(a[5])
	p, ok := d.(fdesc.Positional)
	key, reg := fileKey(d)
	if !ok || !reg {
		return -int64(syscall.ENODEV)
	}
	acc := d.Flags() & syscall.O_ACCMODE
	if acc == syscall.O_WRONLY || flags&mapShared != 0 && prot&protWrite != 0 && acc != syscall.O_RDWR {
		return -int64(syscall.EACCES)
	}
	if off < 0 || length > 1<<40 {
		return -int64(syscall.EINVAL)
	}
	length = (length + pageSize - 1) &^ (pageSize - 1)
	mflags := uintptr(syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS) | uintptr(flags&(mapFixed|mapFixNR))
	va, _, e := syscall.Syscall6(syscall.SYS_MMAP, addr, length, protRead|protWrite, mflags, ^uintptr(0), 0)
	if e != 0 {
		return -int64(e)
	}
	mem := unsafe.Slice((*byte)(unsafe.Pointer(va)), length)
	for done := 0; done < len(mem); {
		n, err := p.ReadAt(mem[done:], off+int64(done))
		if err != nil {
			unmapRaw(va, length)
			return result(0, err)
		}
		if n == 0 {
			break // end of file: the rest stays zero
		}
		done += n
	}
	if prot != protRead|protWrite {
		if _, _, e := syscall.Syscall(syscall.SYS_MPROTECT, va, length, uintptr(prot)); e != 0 {
			unmapRaw(va, length)
			return -int64(e)
		}
	}
	if flags&mapShared == 0 {
		return int64(va)
	}
	mapMu.Lock()
	defer mapMu.Unlock()
	if err := fileMapsCall(bridge.FileMapAdd, va, length); err != nil {
		unmapRaw(va, length)
		return result(0, err)
	}
	addMapping(&fileMapping{addr: va, length: length, off: off, prot: prot, key: key, d: d})
	return int64(va)
}

// fileMapsCall is bridge.FileMaps (a variable so host tests can stand in
// for the kernel).
var fileMapsCall = bridge.FileMaps

func unmapRaw(va, length uintptr) { fileMapsCall(bridge.FileMapUnmap, va, length) }

// addMapping inserts m (mapMu held).
func addMapping(m *fileMapping) {
	fileMaps = append(fileMaps, m)
	sort.Slice(fileMaps, func(i, j int) bool { return fileMaps[i].addr < fileMaps[j].addr })
	mappedOpen[m.d]++
	nMaps.Store(int32(len(fileMaps)))
}

// munmapFiles answers OpMunmap: the shared mappings in [addr, addr+length)
// are written back and dropped (the parts outside stay mapped), then the
// whole range is unmapped.
func munmapFiles(addr, length uintptr) int64 {
	length = (length + pageSize - 1) &^ (pageSize - 1)
	end := addr + length
	mapMu.Lock()
	var firstErr error
	var keep []*fileMapping
	var closeNow []fdesc.Description
	for _, m := range fileMaps {
		mEnd := m.addr + m.length
		if mEnd <= addr || m.addr >= end {
			keep = append(keep, m)
			continue
		}
		if err := writeBack(m, max(m.addr, addr), min(mEnd, end)); err != nil && firstErr == nil {
			firstErr = err
		}
		fileMapsCall(bridge.FileMapRemove, m.addr, m.length)
		mappedOpen[m.d]--
		// The parts outside the range remain mappings of their own.
		if m.addr < addr {
			keep = append(keep, &fileMapping{addr: m.addr, length: addr - m.addr, off: m.off, prot: m.prot, key: m.key, d: m.d})
		}
		if mEnd > end {
			keep = append(keep, &fileMapping{addr: end, length: mEnd - end, off: m.off + int64(end-m.addr), prot: m.prot, key: m.key, d: m.d})
		}
		for _, k := range keep[len(keep)-btoi(m.addr < addr)-btoi(mEnd > end):] {
			fileMapsCall(bridge.FileMapAdd, k.addr, k.length)
			mappedOpen[k.d]++
		}
		if mappedOpen[m.d] == 0 {
			delete(mappedOpen, m.d)
			if closedByFD[m.d] {
				delete(closedByFD, m.d)
				closeNow = append(closeNow, m.d)
			}
		}
	}
	fileMaps = keep
	sort.Slice(fileMaps, func(i, j int) bool { return fileMaps[i].addr < fileMaps[j].addr })
	nMaps.Store(int32(len(fileMaps)))
	err := fileMapsCall(bridge.FileMapUnmap, addr, length)
	mapMu.Unlock()
	for _, d := range closeNow {
		d.Close()
	}
	// Linux reports write-back errors at msync/fsync, not munmap; the
	// unmap itself succeeded.
	_ = firstErr
	return result(0, err)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// msyncFiles answers OpMsync: writable shared mappings in the range are
// written back; with MS_SYNC their files are then fdatasynced.
func msyncFiles(addr, length uintptr, flags uint64) int64 {
	end := addr + length
	mapMu.Lock()
	defer mapMu.Unlock()
	for _, m := range fileMaps {
		mEnd := m.addr + m.length
		if mEnd <= addr || m.addr >= end || m.prot&protWrite == 0 {
			continue
		}
		if err := writeBack(m, max(m.addr, addr), min(mEnd, end)); err != nil {
			return result(0, err)
		}
		if flags&msSync != 0 {
			if s, ok := m.d.(fdesc.Syncer); ok {
				if err := s.Sync(true); err != nil {
					return result(0, err)
				}
			}
		}
	}
	return 0
}

// writeBack writes [from, to) of a writable mapping to its file and to the
// file's other shared mappings (mapMu held). Nothing is written past the
// file's end: on Linux that part of a mapping cannot be touched (SIGBUS).
func writeBack(m *fileMapping, from, to uintptr) error {
	if m.prot&protWrite == 0 || from >= to {
		return nil
	}
	var st syscall.Stat_t
	if err := m.d.Stat(&st); err != nil {
		return err
	}
	off := m.off + int64(from-m.addr)
	if off >= st.Size {
		return nil
	}
	data := unsafe.Slice((*byte)(unsafe.Pointer(from)), min(int64(to-from), st.Size-off))
	n, err := m.d.(fdesc.Positional).WriteAt(data, off)
	copyToMappings(m.key, data[:n], off, m) // other mappings of the file see it too
	return err
}

// fileWritten copies data just written to a file at off into the shared
// mappings of the file that cover it.
func fileWritten(d fdesc.Description, data []byte, off int64) {
	key, ok := mappedKey(d)
	if !ok || len(data) == 0 {
		return
	}
	mapMu.Lock()
	defer mapMu.Unlock()
	copyToMappings(key, data, off, nil)
}

// copyToMappings copies file data at off into the shared mappings of file
// key other than except (mapMu held). Read-only mappings are opened for
// writing for the copy: only this package writes them.
func copyToMappings(key [2]uint64, data []byte, off int64, except *fileMapping) {
	for _, m := range fileMaps {
		if m.key != key || m == except {
			continue
		}
		lo, hi := max(off, m.off), min(off+int64(len(data)), m.off+int64(m.length))
		if lo >= hi {
			continue
		}
		dst := m.addr + uintptr(lo-m.off)
		if m.prot&protWrite == 0 {
			syscall.Syscall(syscall.SYS_MPROTECT, m.addr, m.length, protRead|protWrite)
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), hi-lo), data[lo-off:hi-off])
		if m.prot&protWrite == 0 {
			syscall.Syscall(syscall.SYS_MPROTECT, m.addr, m.length, uintptr(m.prot))
		}
	}
}

// beforeRead writes back the writable shared mappings of the file d, so
// that read returns what the program stored through them.
func beforeRead(d fdesc.Description) {
	key, ok := mappedKey(d)
	if !ok {
		return
	}
	mapMu.Lock()
	defer mapMu.Unlock()
	for _, m := range fileMaps {
		if m.key == key && m.prot&protWrite != 0 {
			writeBack(m, m.addr, m.addr+m.length)
		}
	}
}

// closeMapped is called for OpClose: a description that shared mappings
// still use is closed when the last of them goes.
func closeMapped(d fdesc.Description) bool {
	if nMaps.Load() == 0 {
		return false
	}
	mapMu.Lock()
	defer mapMu.Unlock()
	if mappedOpen[d] > 0 {
		closedByFD[d] = true
		return true
	}
	return false
}
