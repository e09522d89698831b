package ext4

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
)

var le = binary.LittleEndian

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is ext4's checksum primitive, the kernel's crc32c_le(seed, p):
// CRC-32C without pre/post inversion (Go's crc32.Update adds both).
func crc32c(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

// The superblock lives at byte 1024 of the device and is 1024 bytes long.
const (
	superOffset = 1024
	superSize   = 1024
	superMagic  = 0xEF53
)

// Byte offsets of the struct ext4_super_block fields this package uses.
const (
	sInodesCount       = 0x00
	sBlocksCountLo     = 0x04
	sRBlocksCountLo    = 0x08
	sFreeBlocksCountLo = 0x0C
	sFreeInodesCount   = 0x10
	sFirstDataBlock    = 0x14
	sLogBlockSize      = 0x18
	sLogClusterSize    = 0x1C
	sBlocksPerGroup    = 0x20
	sClustersPerGroup  = 0x24
	sInodesPerGroup    = 0x28
	sMtime             = 0x2C
	sWtime             = 0x30
	sMntCount          = 0x34
	sMagic             = 0x38
	sState             = 0x3A
	sRevLevel          = 0x4C
	sFirstIno          = 0x54
	sInodeSize         = 0x58
	sFeatureCompat     = 0x5C
	sFeatureIncompat   = 0x60
	sFeatureROCompat   = 0x64
	sUUID              = 0x68
	sReservedGdtBlocks = 0xCE
	sJournalInum       = 0xE0
	sJournalDev        = 0xE4
	sLastOrphan        = 0xE8
	sHashSeed          = 0xEC
	sDefHashVersion    = 0xFC
	sDescSize          = 0xFE
	sFirstMetaBg       = 0x104
	sBlocksCountHi     = 0x150
	sFreeBlocksCountHi = 0x158
	sMinExtraIsize     = 0x15C
	sWantExtraIsize    = 0x15E
	sLogGroupsPerFlex  = 0x174
	sChecksumType      = 0x175
	sKbytesWritten     = 0x178
	sChecksumSeed      = 0x270
	sChecksum          = 0x3FC
	stateValidFS       = 0x1
	stateErrorFS       = 0x2
	checksumTypeCRC32C = 1
	goodOldInodeSize   = 128
	goodOldFirstIno    = 11
	defaultDescSize    = 32
	minDescSize64Bit   = 64
)

// Feature flags (s_feature_compat / _incompat / _ro_compat).
const (
	compatHasJournal  = 0x4
	compatExtAttr     = 0x8
	compatResizeInode = 0x10
	compatDirIndex    = 0x20

	incompatFiletype  = 0x2
	incompatRecover   = 0x4
	incompatJournalDv = 0x8
	incompatMetaBg    = 0x10
	incompatExtents   = 0x40
	incompat64Bit     = 0x80
	incompatMMP       = 0x100
	incompatFlexBg    = 0x200
	incompatCsumSeed  = 0x2000
	incompatLargeDir  = 0x4000
	incompatInline    = 0x8000

	roCompatSparseSuper  = 0x1
	roCompatLargeFile    = 0x2
	roCompatBtreeDir     = 0x4
	roCompatHugeFile     = 0x8
	roCompatGdtCsum      = 0x10
	roCompatDirNlink     = 0x20
	roCompatExtraIsize   = 0x40
	roCompatMetadataCsum = 0x400
)

// Features Stardust can read and write. Anything else in INCOMPAT makes the
// mount read-only if the reader still copes (META_BG, LARGEDIR, INLINE_DATA
// are read as far as they go) or fails; anything else in RO_COMPAT makes it
// read-only, which is exactly what RO_COMPAT promises to allow.
const (
	rwIncompat = incompatFiletype | incompatRecover | incompatExtents |
		incompat64Bit | incompatFlexBg | incompatCsumSeed
	rwROCompat = roCompatSparseSuper | roCompatLargeFile | roCompatHugeFile |
		roCompatDirNlink | roCompatExtraIsize | roCompatMetadataCsum
	// readIncompat are incompat features the read path tolerates.
	readIncompat = rwIncompat | incompatMetaBg | incompatLargeDir | incompatInline | incompatMMP
)

// superblock is the raw on-disk superblock; fields are read and written in
// place so unknown fields survive a rewrite.
type superblock struct {
	b []byte
}

func (s superblock) u16(off int) uint16        { return le.Uint16(s.b[off:]) }
func (s superblock) u32(off int) uint32        { return le.Uint32(s.b[off:]) }
func (s superblock) put16(off int, v uint16)   { le.PutUint16(s.b[off:], v) }
func (s superblock) put32(off int, v uint32)   { le.PutUint32(s.b[off:], v) }
func (s superblock) compat() uint32            { return s.u32(sFeatureCompat) }
func (s superblock) incompat() uint32          { return s.u32(sFeatureIncompat) }
func (s superblock) roCompat() uint32          { return s.u32(sFeatureROCompat) }
func (s superblock) hasIncompat(f uint32) bool { return s.incompat()&f != 0 }
func (s superblock) hasROCompat(f uint32) bool { return s.roCompat()&f != 0 }

func (s superblock) blocksCount() uint64 {
	n := uint64(s.u32(sBlocksCountLo))
	if s.hasIncompat(incompat64Bit) {
		n |= uint64(s.u32(sBlocksCountHi)) << 32
	}
	return n
}

func (s superblock) freeBlocks() uint64 {
	n := uint64(s.u32(sFreeBlocksCountLo))
	if s.hasIncompat(incompat64Bit) {
		n |= uint64(s.u32(sFreeBlocksCountHi)) << 32
	}
	return n
}

func (s superblock) setFreeBlocks(n uint64) {
	s.put32(sFreeBlocksCountLo, uint32(n))
	if s.hasIncompat(incompat64Bit) {
		s.put32(sFreeBlocksCountHi, uint32(n>>32))
	}
}

// checksum is crc32c(~0) over the superblock up to s_checksum.
func (s superblock) checksum() uint32 { return crc32c(^uint32(0), s.b[:sChecksum]) }

func (s superblock) updateChecksum() {
	if s.hasROCompat(roCompatMetadataCsum) {
		s.put32(sChecksum, s.checksum())
	}
}

// featureNames renders unknown feature bits for mount messages.
func featureNames(bits uint32) string {
	var out []string
	for i := 0; i < 32; i++ {
		if bits&(1<<i) != 0 {
			out = append(out, fmt.Sprintf("%#x", uint32(1)<<i))
		}
	}
	return strings.Join(out, ",")
}
