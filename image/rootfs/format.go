// Package rootfs implements Stardust's packed, read-only root file system:
// the format the image carries, a builder that packs host directory trees
// (plus the default files Go programs look for) into it, and a reader that
// serves the packed bytes with zero copies.
//
// Execution context: service context. The builder runs on the host at
// `stardust build` time; the reader runs in ordinary kernel goroutines, may
// allocate, and never copies file data: Node.Data returns a sub-slice of
// the image, so the kernel can map the image once and hand out its pages.
//
// The layout is documented in docs/rootfs-format.md. In short:
//
//	header (64 bytes) | index (entryCount * 48 bytes) | strings | pad | file data (each file page-aligned)
//
// The index holds the tree in breadth-first order: entry 0 is the root
// directory and the children of every directory are contiguous and sorted
// by name, so a lookup is one binary search per path component and a
// directory listing is a slice of the index.
package rootfs

import (
	"encoding/binary"
	"io/fs"
)

// Format constants. All integers are little-endian.
const (
	// Magic opens every image.
	Magic = "SDROOTFS"
	// Version is the only format version this package reads and writes.
	Version = 1
	// PageSize is the alignment of file data, so the kernel can map a
	// file's pages directly from the image.
	PageSize = 4096

	headerSize = 64
	entrySize  = 48

	// MaxNameLen and MaxTargetLen mirror Linux's NAME_MAX and PATH_MAX-1.
	MaxNameLen   = 255
	MaxTargetLen = 4095
	// maxLinks is how many symbolic links one path resolution may follow
	// (Linux's MAXSYMLINKS).
	maxLinks = 40
)

// Linux st_mode bits. The image stores modes in Linux's encoding because
// the kernel hands them to the program unchanged.
const (
	sIFMT   = 0o170000
	sIFDIR  = 0o040000
	sIFREG  = 0o100000
	sIFLNK  = 0o120000
	sISUID  = 0o4000
	sISGID  = 0o2000
	sISVTX  = 0o1000
	permMax = 0o7777
)

// header field offsets.
const (
	hMagic      = 0  // [8]byte
	hVersion    = 8  // uint32
	hEntrySize  = 12 // uint32
	hEntryCount = 16 // uint32
	hReserved   = 20 // uint32, zero
	hIndexOff   = 24 // uint64
	hStringsOff = 32 // uint64
	hStringsLen = 40 // uint64
	hDataOff    = 48 // uint64
	hImageSize  = 56 // uint64
)

// entry field offsets. Fields a and b depend on the entry's type:
//
//	directory: a = index of the first child, b = number of children
//	regular:   a = offset of the data in the image, b = size in bytes
//	symlink:   a = offset of the target in the string table, b = its length
const (
	eMode     = 0  // uint32 Linux st_mode
	eNameLen  = 4  // uint32
	eNameOff  = 8  // uint64, into the string table
	eA        = 16 // uint64
	eB        = 24 // uint64
	eMtimeSec = 32 // int64
	eMtimeNs  = 40 // uint32
	eReserved = 44 // uint32, zero
)

var le = binary.LittleEndian

// linuxToFileMode converts a Linux st_mode into an io/fs mode.
func linuxToFileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & sIFMT {
	case sIFDIR:
		mode |= fs.ModeDir
	case sIFLNK:
		mode |= fs.ModeSymlink
	}
	if m&sISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&sISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&sISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// fileModeToLinux converts the permission and special bits of an io/fs
// mode into Linux's encoding; the caller adds the type bits.
func fileModeToLinux(m fs.FileMode) uint32 {
	l := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		l |= sISUID
	}
	if m&fs.ModeSetgid != 0 {
		l |= sISGID
	}
	if m&fs.ModeSticky != 0 {
		l |= sISVTX
	}
	return l
}
