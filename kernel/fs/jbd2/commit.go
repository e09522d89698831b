package jbd2

import (
	"fmt"
	"time"
)

// Start prepares the journal for writing: the log must already be empty
// (call Recover first). It turns on the checksum and 64-bit features the
// filesystem asks for (ext4 with metadata_csum uses csum v3, as Linux's
// ext4_fill_super does) and points s_start at the first log block so that
// any transaction committed from now on is found by recovery.
//
// Stardust's writer is deliberately simple: every transaction is written
// from s_first, and Checkpointed advances s_sequence once its blocks are at
// their home locations, so the log never holds more than one transaction.
func (j *Journal) Start(csumV3, is64 bool) error {
	if j.NeedsRecovery() {
		return fmt.Errorf("jbd2: Start on a journal that needs recovery")
	}
	if readHeader(j.sb).blockType != typeSuperV2 {
		return fmt.Errorf("%w: v1 journal superblock", ErrUnsupported)
	}
	inc := be.Uint32(j.sb[sbIncompat:])
	inc &^= IncompatCsumV2 | IncompatAsyncCommit
	if csumV3 {
		inc |= IncompatCsumV3
		j.sb[sbChecksumType] = crc32cChecksumType
		j.csumSeed = crc32c(^uint32(0), j.sb[sbUUID:sbUUID+16])
	} else {
		inc &^= IncompatCsumV3
	}
	if is64 {
		inc |= Incompat64Bit
	}
	be.PutUint32(j.sb[sbIncompat:], inc)
	be.PutUint32(j.sb[sbCompat:], be.Uint32(j.sb[sbCompat:])&^compatChecksum)
	if err := j.writeSuper(j.first, j.sequence); err != nil {
		return err
	}
	if err := j.dev.Flush(); err != nil {
		return err
	}
	j.writable = true
	return nil
}

// Commit writes one transaction: descriptor blocks with a tag per block, the
// block copies, a Flush, the commit block and another Flush. When Commit
// returns nil the transaction is durable; the caller must then write the
// blocks home, Flush, and call Checkpointed. The caller is responsible for
// having flushed any ordered-mode data first.
func (j *Journal) Commit(blocks []Block) error {
	if !j.writable {
		return fmt.Errorf("jbd2: Commit before Start")
	}
	if len(blocks) > j.Capacity() {
		return fmt.Errorf("jbd2: transaction of %d blocks exceeds capacity %d", len(blocks), j.Capacity())
	}
	seq := j.sequence
	pos := j.first
	perDesc := j.tagsPerDescriptor()
	desc := make([]byte, j.blockSize)
	logCopy := make([]byte, j.blockSize)
	for i := 0; i < len(blocks); i += perDesc {
		batch := blocks[i:min(i+perDesc, len(blocks))]
		clear(desc)
		putHeader(desc, typeDescriptor, seq)
		off := 12
		descPos := pos
		pos++
		for k, blk := range batch {
			copy(logCopy, blk.Data)
			var flags uint32
			if be.Uint32(logCopy[0:]) == Magic {
				// A logged block must not look like a journal block:
				// zero its magic in the log and flag it for recovery.
				be.PutUint32(logCopy[0:], 0)
				flags |= tagEscape
			}
			if k > 0 {
				flags |= tagSameUUID
			}
			if k == len(batch)-1 {
				flags |= tagLastTag
			}
			j.putTag(desc[off:], blk.Nr, flags, j.dataChecksum(seq, logCopy))
			off += j.tagBytes()
			if k == 0 {
				copy(desc[off:], j.sb[sbUUID:sbUUID+16])
				off += 16
			}
			if err := j.writeLog(uint64(pos), logCopy); err != nil {
				return err
			}
			pos++
		}
		if j.csumV2or3() {
			be.PutUint32(desc[len(desc)-4:], j.blockTailChecksum(desc))
		}
		if err := j.writeLog(uint64(descPos), desc); err != nil {
			return err
		}
	}
	if err := j.dev.Flush(); err != nil {
		return err
	}
	commit := make([]byte, j.blockSize)
	putHeader(commit, typeCommit, seq)
	now := time.Now()
	be.PutUint64(commit[commitSec:], uint64(now.Unix()))
	be.PutUint32(commit[commitNsec:], uint32(now.Nanosecond()))
	if j.csumV2or3() {
		be.PutUint32(commit[commitChksum:], j.commitChecksum(commit))
	}
	if err := j.writeLog(uint64(pos), commit); err != nil {
		return err
	}
	return j.dev.Flush()
}

func (j *Journal) putTag(b []byte, nr uint64, flags, csum uint32) {
	be.PutUint32(b[0:], uint32(nr))
	if j.has(IncompatCsumV3) {
		be.PutUint32(b[4:], flags)
		be.PutUint32(b[8:], uint32(nr>>32))
		be.PutUint32(b[12:], csum)
		return
	}
	if j.has(IncompatCsumV2) {
		be.PutUint16(b[4:], uint16(csum))
	}
	be.PutUint16(b[6:], uint16(flags))
	if j.has(Incompat64Bit) {
		be.PutUint32(b[8:], uint32(nr>>32))
	}
}

// Checkpointed records that the last committed transaction is at its home
// locations (and flushed): the superblock now expects the next transaction
// ID at s_first, so recovery will not replay the old one again.
func (j *Journal) Checkpointed() error {
	j.sequence++
	if err := j.writeSuper(j.first, j.sequence); err != nil {
		return err
	}
	return j.dev.Flush()
}

// Close marks the journal empty (s_start = 0), as a clean unmount does.
// Every committed transaction must have been checkpointed.
func (j *Journal) Close() error {
	if !j.writable {
		return nil
	}
	j.writable = false
	if err := j.writeSuper(0, j.sequence); err != nil {
		return err
	}
	return j.dev.Flush()
}
