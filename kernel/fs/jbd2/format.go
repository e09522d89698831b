// Package jbd2 reads, replays and writes the jbd2 journal that ext4 keeps in
// its journal inode (inode 8): the "journalling block device" format of
// Linux's fs/jbd2, as documented in the kernel's
// Documentation/filesystems/ext4/journal.rst.
//
// The journal is a circular log of transactions. Each transaction is a
// descriptor block (a list of "tags", one per logged block, each naming the
// block's final location), the logged blocks themselves, optionally revoke
// blocks, and finally a commit block. A transaction counts only if its commit
// block is present and (with checksums) valid; recovery copies the logged
// blocks of every complete transaction to their final locations.
//
// All journal structures are big-endian, unlike the rest of ext4.
//
// Execution context: service context. Everything here runs in ordinary
// goroutines, may block on the device, and is tested on the host.
package jbd2

import (
	"encoding/binary"
	"hash/crc32"
)

// Magic is the first word of every journal metadata block (JBD2_MAGIC_NUMBER).
const Magic = 0xC03B3998

// Block types (h_blocktype of journal_header_t).
const (
	typeDescriptor = 1
	typeCommit     = 2
	typeSuperV1    = 3
	typeSuperV2    = 4
	typeRevoke     = 5
)

// Feature bits of the journal superblock.
const (
	compatChecksum = 0x1 // v1 commit-block checksum (crc32 of the data)

	IncompatRevoke      = 0x1
	Incompat64Bit       = 0x2
	IncompatAsyncCommit = 0x4
	IncompatCsumV2      = 0x8
	IncompatCsumV3      = 0x10
	IncompatFastCommit  = 0x20

	knownIncompat = IncompatRevoke | Incompat64Bit | IncompatAsyncCommit |
		IncompatCsumV2 | IncompatCsumV3
)

// Tag flags (t_flags).
const (
	tagEscape   = 1 // the block started with Magic; the log copy has it zeroed
	tagSameUUID = 2 // no 16-byte UUID follows this tag
	tagDeleted  = 4
	tagLastTag  = 8
)

// Offsets inside the journal superblock (journal_superblock_t).
const (
	sbBlockSize    = 0x0C
	sbMaxLen       = 0x10
	sbFirst        = 0x14
	sbSequence     = 0x18
	sbStart        = 0x1C
	sbErrno        = 0x20
	sbCompat       = 0x24
	sbIncompat     = 0x28
	sbROCompat     = 0x2C
	sbUUID         = 0x30
	sbNumFCBlocks  = 0x54
	sbChecksumType = 0x50
	sbChecksum     = 0xFC
	sbSize         = 1024

	crc32cChecksumType = 4 // JBD2_CRC32C_CHKSUM
)

// Commit block offsets (commit_header).
const (
	commitChksumType = 12
	commitChksumSize = 13
	commitChksum     = 16
	commitSec        = 48
	commitNsec       = 56
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the checksum primitive of jbd2 and ext4: the kernel's
// crc32c_le(seed, p), i.e. CRC-32C without the customary pre- and
// post-inversion. Go's crc32.Update inverts on the way in and out, so undo it.
func crc32c(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

var be = binary.BigEndian

// header is journal_header_t, the 12 bytes that open every log metadata block.
type header struct {
	magic, blockType, sequence uint32
}

func readHeader(b []byte) header {
	return header{be.Uint32(b[0:]), be.Uint32(b[4:]), be.Uint32(b[8:])}
}

func putHeader(b []byte, blockType, seq uint32) {
	be.PutUint32(b[0:], Magic)
	be.PutUint32(b[4:], blockType)
	be.PutUint32(b[8:], seq)
}
