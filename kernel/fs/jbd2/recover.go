package jbd2

import "fmt"

// tag is one decoded descriptor tag.
type tag struct {
	blockNr  uint64
	flags    uint32
	checksum uint32
}

// parseTags decodes the tags of a descriptor block. The layout depends on
// the journal features (see tagBytes): csum v3 uses journal_block_tag3_t
// {blocknr, flags(32), blocknr_high, checksum}; otherwise journal_block_tag_t
// {blocknr, checksum(16), flags(16), blocknr_high if 64bit}.
func (j *Journal) parseTags(b []byte) ([]tag, error) {
	var tags []tag
	tb := j.tagBytes()
	end := len(b) - j.tailBytes()
	off := 12
	for off+tb <= end {
		var t tag
		t.blockNr = uint64(be.Uint32(b[off:]))
		if j.has(IncompatCsumV3) {
			t.flags = be.Uint32(b[off+4:])
			if j.has(Incompat64Bit) {
				t.blockNr |= uint64(be.Uint32(b[off+8:])) << 32
			}
			t.checksum = be.Uint32(b[off+12:])
		} else {
			t.checksum = uint32(be.Uint16(b[off+4:]))
			t.flags = uint32(be.Uint16(b[off+6:]))
			if j.has(Incompat64Bit) {
				t.blockNr |= uint64(be.Uint32(b[off+8:])) << 32
			}
		}
		tags = append(tags, t)
		off += tb
		if t.flags&tagSameUUID == 0 {
			off += 16
		}
		if t.flags&tagLastTag != 0 {
			return tags, nil
		}
	}
	if len(tags) == 0 {
		return nil, fmt.Errorf("jbd2: descriptor block without tags")
	}
	return tags, nil
}

// parseRevoke returns the block numbers listed in a revoke block
// (jbd2_journal_revoke_header_t: header, r_count = bytes used, then 4- or
// 8-byte block numbers).
func (j *Journal) parseRevoke(b []byte) []uint64 {
	count := int(be.Uint32(b[12:]))
	if count > len(b)-j.tailBytes() {
		count = len(b) - j.tailBytes()
	}
	size := 4
	if j.has(Incompat64Bit) {
		size = 8
	}
	var out []uint64
	for off := 16; off+size <= count; off += size {
		if size == 8 {
			out = append(out, be.Uint64(b[off:]))
		} else {
			out = append(out, uint64(be.Uint32(b[off:])))
		}
	}
	return out
}

// RecoveryStats describes what Recover did.
type RecoveryStats struct {
	Transactions int // complete transactions found
	Replayed     int // blocks written to their final location
	Revoked      int // logged blocks skipped because a later revoke covers them
	BadChecksum  int // logged blocks skipped because their tag checksum failed
}

// Recover replays the log, as Linux's jbd2_journal_recover does, in three
// passes: SCAN finds the last complete transaction, REVOKE collects revoke
// records, REPLAY copies every logged block that no later-or-equal revoke
// covers to its home location. It then flushes and marks the journal empty.
// Calling it on an empty journal is a no-op.
func (j *Journal) Recover() (RecoveryStats, error) {
	var st RecoveryStats
	if !j.NeedsRecovery() {
		return st, nil
	}
	start := be.Uint32(j.sb[sbStart:])
	firstSeq := be.Uint32(j.sb[sbSequence:])

	// PASS_SCAN: walk until a block that does not continue the log.
	endSeq, err := j.walk(start, firstSeq, 0, nil, nil)
	if err != nil {
		return st, err
	}
	st.Transactions = int(endSeq - firstSeq)

	// PASS_REVOKE: block -> highest transaction ID that revoked it.
	revoked := map[uint64]uint32{}
	if _, err := j.walk(start, firstSeq, endSeq, revoked, nil); err != nil {
		return st, err
	}
	// PASS_REPLAY.
	if _, err := j.walk(start, firstSeq, endSeq, revoked, &st); err != nil {
		return st, err
	}
	if err := j.dev.Flush(); err != nil {
		return st, err
	}
	// The log is now applied: mark it empty, and continue numbering after
	// the last transaction so stale log blocks can never look current.
	j.sequence = endSeq
	if err := j.writeSuper(0, endSeq); err != nil {
		return st, err
	}
	return st, j.dev.Flush()
}

// walk scans the log from (pos, seq). With endSeq == 0 it is the scan pass
// and returns the ID after the last complete transaction. Otherwise it stops
// at endSeq and either records revokes (replay == nil) or replays blocks.
func (j *Journal) walk(pos, seq, endSeq uint32, revoked map[uint64]uint32, replay *RecoveryStats) (uint32, error) {
	scan := endSeq == 0
	b := make([]byte, j.blockSize)
	data := make([]byte, j.blockSize)
	for steps := uint32(0); steps < j.maxLen; {
		if !scan && seq == endSeq {
			return seq, nil
		}
		if err := j.readLog(uint64(pos), b); err != nil {
			return 0, err
		}
		h := readHeader(b)
		if h.magic != Magic || h.sequence != seq {
			if scan {
				return seq, nil
			}
			return 0, fmt.Errorf("jbd2: log ended early at block %d (transaction %d)", pos, seq)
		}
		switch h.blockType {
		case typeDescriptor:
			if j.csumV2or3() && j.blockTailChecksum(b) != be.Uint32(b[len(b)-4:]) {
				if scan {
					return seq, nil // a torn descriptor ends the log
				}
				return 0, fmt.Errorf("jbd2: descriptor checksum mismatch at block %d", pos)
			}
			tags, err := j.parseTags(b)
			if err != nil {
				if scan {
					return seq, nil
				}
				return 0, err
			}
			pos = j.next(pos)
			steps++
			for _, t := range tags {
				if replay != nil {
					if err := j.replayOne(pos, seq, t, data, revoked, replay); err != nil {
						return 0, err
					}
				}
				pos = j.next(pos)
				steps++
			}
			continue
		case typeCommit:
			if j.csumV2or3() && j.commitChecksum(b) != be.Uint32(b[commitChksum:]) {
				if scan {
					return seq, nil // an invalid commit means the transaction never committed
				}
				return 0, fmt.Errorf("jbd2: commit checksum mismatch at block %d", pos)
			}
			seq++
		case typeRevoke:
			if j.csumV2or3() && j.blockTailChecksum(b) != be.Uint32(b[len(b)-4:]) {
				if scan {
					return seq, nil
				}
				return 0, fmt.Errorf("jbd2: revoke checksum mismatch at block %d", pos)
			}
			if revoked != nil && replay == nil {
				for _, nr := range j.parseRevoke(b) {
					if old, ok := revoked[nr]; !ok || int32(seq-old) > 0 {
						revoked[nr] = seq
					}
				}
			}
		default:
			if scan {
				return seq, nil
			}
			return 0, fmt.Errorf("jbd2: unexpected block type %d at %d", h.blockType, pos)
		}
		pos = j.next(pos)
		steps++
	}
	return seq, nil
}

// replayOne copies the logged block at log position pos to its home.
func (j *Journal) replayOne(pos, seq uint32, t tag, data []byte, revoked map[uint64]uint32, st *RecoveryStats) error {
	if rs, ok := revoked[t.blockNr]; ok && int32(rs-seq) >= 0 {
		st.Revoked++
		return nil
	}
	if err := j.readLog(uint64(pos), data); err != nil {
		return err
	}
	if j.csumV2or3() {
		want := j.dataChecksum(seq, data)
		if j.has(IncompatCsumV2) && !j.has(IncompatCsumV3) {
			want &= 0xFFFF
		}
		if want != t.checksum {
			st.BadChecksum++
			return nil
		}
	}
	if t.flags&tagEscape != 0 {
		be.PutUint32(data[0:], Magic)
	}
	if _, err := j.dev.WriteAt(data, int64(t.blockNr)*int64(j.blockSize)); err != nil {
		return err
	}
	st.Replayed++
	return nil
}
