package jbd2

import (
	"errors"
	"fmt"
)

// Device is the block device the journal lives on. It is the same shape as
// ext4.BlockDevice; jbd2 declares its own so it does not import ext4.
type Device interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Flush() error
}

// Block is one filesystem block to be logged: its final location (in
// filesystem blocks) and its new contents (exactly one block long).
type Block struct {
	Nr   uint64
	Data []byte
}

// ErrUnsupported reports a journal this package cannot safely replay or
// write (an unknown incompatible feature, fast commits, ...).
var ErrUnsupported = errors.New("jbd2: unsupported journal feature")

// Journal is an open jbd2 journal stored in the blocks of an inode (or any
// mapping from journal block numbers to device blocks).
type Journal struct {
	dev       Device
	blockSize int
	// mapBlock translates a journal-relative block number to a device block
	// number; ext4 supplies the journal inode's extent lookup.
	mapBlock func(uint64) (uint64, error)

	sb       []byte // the raw journal superblock, as read (1024 bytes used)
	maxLen   uint32 // s_maxlen: blocks in the journal including the superblock
	first    uint32 // s_first: first log block
	sequence uint32 // next transaction ID to write
	csumSeed uint32 // crc32c(~0, s_uuid), used by v2/v3 checksums
	writable bool   // Start has run: the superblock points at our log
}

// Open reads and validates the journal superblock at journal block 0.
// nblocks is the size of the journal area (the journal inode's size in blocks).
func Open(dev Device, blockSize int, nblocks uint64, mapBlock func(uint64) (uint64, error)) (*Journal, error) {
	j := &Journal{dev: dev, blockSize: blockSize, mapBlock: mapBlock}
	sb := make([]byte, blockSize)
	if err := j.readLog(0, sb); err != nil {
		return nil, err
	}
	h := readHeader(sb)
	if h.magic != Magic || (h.blockType != typeSuperV1 && h.blockType != typeSuperV2) {
		return nil, fmt.Errorf("jbd2: bad journal superblock (magic %#x type %d)", h.magic, h.blockType)
	}
	if bs := be.Uint32(sb[sbBlockSize:]); int(bs) != blockSize {
		return nil, fmt.Errorf("jbd2: journal block size %d != filesystem block size %d", bs, blockSize)
	}
	j.sb = sb
	j.maxLen = be.Uint32(sb[sbMaxLen:])
	j.first = be.Uint32(sb[sbFirst:])
	j.sequence = be.Uint32(sb[sbSequence:])
	if uint64(j.maxLen) > nblocks || j.first == 0 || j.first >= j.maxLen {
		return nil, fmt.Errorf("jbd2: journal geometry first=%d maxlen=%d does not fit %d blocks", j.first, j.maxLen, nblocks)
	}
	if h.blockType == typeSuperV2 {
		if inc := j.incompat(); inc&^knownIncompat != 0 {
			return nil, fmt.Errorf("%w: incompat %#x", ErrUnsupported, inc)
		}
		if j.csumV2or3() {
			j.csumSeed = crc32c(^uint32(0), sb[sbUUID:sbUUID+16])
			want := be.Uint32(sb[sbChecksum:])
			if got := j.superChecksum(); got != want {
				return nil, fmt.Errorf("jbd2: journal superblock checksum %#x, want %#x", got, want)
			}
		}
	}
	return j, nil
}

func (j *Journal) incompat() uint32 {
	if readHeader(j.sb).blockType == typeSuperV1 {
		return 0
	}
	return be.Uint32(j.sb[sbIncompat:])
}

func (j *Journal) has(f uint32) bool { return j.incompat()&f != 0 }

func (j *Journal) csumV2or3() bool { return j.has(IncompatCsumV2) || j.has(IncompatCsumV3) }

// superChecksum is crc32c(~0) over the 1024-byte superblock with s_checksum
// taken as zero (jbd2_superblock_csum).
func (j *Journal) superChecksum() uint32 {
	tmp := make([]byte, sbSize)
	copy(tmp, j.sb[:sbSize])
	be.PutUint32(tmp[sbChecksum:], 0)
	return crc32c(^uint32(0), tmp)
}

// NeedsRecovery reports whether the log holds transactions (s_start != 0).
func (j *Journal) NeedsRecovery() bool { return be.Uint32(j.sb[sbStart:]) != 0 }

// Sequence returns the ID the next transaction will get.
func (j *Journal) Sequence() uint32 { return j.sequence }

// Capacity is the largest number of blocks one transaction may log with
// Commit: the log minus room for descriptor and commit blocks.
func (j *Journal) Capacity() int {
	logBlocks := int(j.maxLen - j.first)
	perDesc := j.tagsPerDescriptor()
	// n blocks need ceil(n/perDesc) descriptors plus one commit block.
	n := logBlocks - 2
	return n - (n+perDesc-1)/perDesc
}

func (j *Journal) readLog(jblk uint64, p []byte) error {
	d, err := j.mapBlock(jblk)
	if err != nil {
		return err
	}
	_, err = j.dev.ReadAt(p, int64(d)*int64(j.blockSize))
	return err
}

func (j *Journal) writeLog(jblk uint64, p []byte) error {
	d, err := j.mapBlock(jblk)
	if err != nil {
		return err
	}
	_, err = j.dev.WriteAt(p, int64(d)*int64(j.blockSize))
	return err
}

// writeSuper stores start and sequence in the superblock, re-checksums it
// and writes it to journal block 0 (not flushed).
func (j *Journal) writeSuper(start, seq uint32) error {
	be.PutUint32(j.sb[sbStart:], start)
	be.PutUint32(j.sb[sbSequence:], seq)
	if j.csumV2or3() {
		be.PutUint32(j.sb[sbChecksum:], j.superChecksum())
	}
	return j.writeLog(0, j.sb)
}

// tagBytes is the size of one descriptor tag (journal_tag_bytes in Linux):
// 16 with csum v3; otherwise 12 with 64bit or 8 without, plus 2 for csum v2.
func (j *Journal) tagBytes() int {
	if j.has(IncompatCsumV3) {
		return 16
	}
	n := 12
	if j.has(IncompatCsumV2) {
		n += 2
	}
	if !j.has(Incompat64Bit) {
		n -= 4
	}
	return n
}

// tailBytes is the checksum tail at the end of descriptor and revoke blocks.
func (j *Journal) tailBytes() int {
	if j.csumV2or3() {
		return 4
	}
	return 0
}

func (j *Journal) tagsPerDescriptor() int {
	// The first tag is followed by the 16-byte journal UUID.
	return (j.blockSize - 12 - j.tailBytes() - 16) / j.tagBytes()
}

// blockTailChecksum is the checksum of a descriptor or revoke block: crc32c
// from the journal seed over the whole block with its 4-byte tail zeroed.
func (j *Journal) blockTailChecksum(b []byte) uint32 {
	n := len(b)
	saved := be.Uint32(b[n-4:])
	be.PutUint32(b[n-4:], 0)
	c := crc32c(j.csumSeed, b)
	be.PutUint32(b[n-4:], saved)
	return c
}

// commitChecksum is the v2/v3 commit block checksum: crc32c over the whole
// block with h_chksum_type, h_chksum_size and h_chksum[0] zeroed.
func (j *Journal) commitChecksum(b []byte) uint32 {
	tmp := make([]byte, len(b))
	copy(tmp, b)
	tmp[commitChksumType] = 0
	tmp[commitChksumSize] = 0
	be.PutUint32(tmp[commitChksum:], 0)
	return crc32c(j.csumSeed, tmp)
}

// dataChecksum is the per-block tag checksum: crc32c over the big-endian
// transaction ID and then the block contents. csum v2 keeps the low 16 bits.
func (j *Journal) dataChecksum(seq uint32, data []byte) uint32 {
	var s [4]byte
	be.PutUint32(s[:], seq)
	return crc32c(crc32c(j.csumSeed, s[:]), data)
}

// next advances a log position, wrapping from the end of the log to s_first.
func (j *Journal) next(pos uint32) uint32 {
	pos++
	if pos >= j.maxLen {
		pos = j.first
	}
	return pos
}
