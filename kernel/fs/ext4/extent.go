package ext4

import (
	"fmt"
	"sort"
	"syscall"
)

// Extent tree layout (ext4_extents.h). A node is a 12-byte header followed
// by 12-byte entries: leaf extents at depth 0, index entries above. The root
// node lives in the inode's i_block (60 bytes: header + 4 entries); deeper
// nodes fill a block and end with a 4-byte crc32c tail (ext4_extent_tail)
// seeded with the inode's checksum seed.
const (
	extMagic       = 0xF30A
	extHeaderSize  = 12
	extEntrySize   = 12
	maxInitLen     = 32768 // ee_len above this marks an unwritten extent
	maxUninitLen   = 32767
	extRootEntries = (iBlockLen - extHeaderSize) / extEntrySize
	maxExtentDepth = 5
)

// extent maps len logical blocks from lblk to physical blocks from pblk.
// uninit (unwritten) extents read as zeros.
type extent struct {
	lblk   uint32
	pblk   uint64
	len    uint32
	uninit bool
}

func (e extent) end() uint32 { return e.lblk + e.len }

func (fs *FS) extPerBlock() int { return (fs.blockSize - extHeaderSize) / extEntrySize }

// loadExtents reads the whole extent tree of an inode into in.ext.
func (fs *FS) loadExtents(in *inode) error {
	if in.extLoaded {
		return nil
	}
	in.ext, in.treeBlocks = nil, nil
	if in.flags()&flagExtents == 0 {
		if in.flags()&flagInlineData != 0 {
			return fmt.Errorf("ext4: inode %d uses inline data: %w", in.ino, syscall.EOPNOTSUPP)
		}
		if in.isLink() || in.size() == 0 {
			in.extLoaded = true
			return nil
		}
		// Block-mapped (ext2/3 style) files are not read by Stardust.
		return fmt.Errorf("ext4: inode %d is not extent-mapped: %w", in.ino, syscall.EOPNOTSUPP)
	}
	if err := fs.walkExtents(in, in.raw[iBlock:iBlock+iBlockLen], -1, 0); err != nil {
		return err
	}
	for i := 1; i < len(in.ext); i++ {
		if in.ext[i].lblk < in.ext[i-1].end() {
			return fmt.Errorf("ext4: inode %d has overlapping extents: %w", in.ino, syscall.EUCLEAN)
		}
	}
	in.extLoaded = true
	return nil
}

func (fs *FS) walkExtents(in *inode, node []byte, wantDepth, level int) error {
	if le.Uint16(node[0:]) != extMagic {
		return fmt.Errorf("ext4: inode %d bad extent header: %w", in.ino, syscall.EUCLEAN)
	}
	entries := int(le.Uint16(node[2:]))
	maxE := int(le.Uint16(node[4:]))
	depth := int(le.Uint16(node[6:]))
	if entries > maxE || extHeaderSize+maxE*extEntrySize > len(node) || depth > maxExtentDepth ||
		(wantDepth >= 0 && depth != wantDepth) || level > maxExtentDepth {
		return fmt.Errorf("ext4: inode %d corrupt extent node: %w", in.ino, syscall.EUCLEAN)
	}
	for i := 0; i < entries; i++ {
		e := node[extHeaderSize+i*extEntrySize:]
		if depth == 0 {
			x := extent{lblk: le.Uint32(e[0:]), len: uint32(le.Uint16(e[4:]))}
			x.pblk = uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))
			if x.len > maxInitLen {
				x.len -= maxInitLen
				x.uninit = true
			}
			in.ext = append(in.ext, x)
			continue
		}
		child := uint64(le.Uint16(e[8:]))<<32 | uint64(le.Uint32(e[4:]))
		b, err := fs.bread(child)
		if err != nil {
			return err
		}
		if fs.csum {
			tail := extHeaderSize + int(le.Uint16(b.data[4:]))*extEntrySize
			if tail+4 > len(b.data) || crc32c(fs.inodeSeed(in), b.data[:tail]) != le.Uint32(b.data[tail:]) {
				return fmt.Errorf("ext4: inode %d extent block %d checksum mismatch: %w", in.ino, child, syscall.EUCLEAN)
			}
		}
		in.treeBlocks = append(in.treeBlocks, child)
		if err := fs.walkExtents(in, b.data, depth-1, level+1); err != nil {
			return err
		}
	}
	return nil
}

// find returns the index of the extent containing lblk, or -1.
func (in *inode) find(lblk uint32) int {
	i := sort.Search(len(in.ext), func(i int) bool { return in.ext[i].end() > lblk })
	if i < len(in.ext) && in.ext[i].lblk <= lblk {
		return i
	}
	return -1
}

// lookup maps a logical block to its physical block (false for holes).
func (in *inode) lookup(lblk uint32) (uint64, bool) {
	i := in.find(lblk)
	if i < 0 {
		return 0, false
	}
	e := in.ext[i]
	return e.pblk + uint64(lblk-e.lblk), true
}

// mapRun reports the mapping at lblk: the physical block (0 for a hole),
// whether it is unwritten, and how many following blocks share it.
func (in *inode) mapRun(lblk uint32) (pblk uint64, uninit bool, n uint32) {
	i := sort.Search(len(in.ext), func(i int) bool { return in.ext[i].end() > lblk })
	if i < len(in.ext) && in.ext[i].lblk <= lblk {
		e := in.ext[i]
		return e.pblk + uint64(lblk-e.lblk), e.uninit, e.end() - lblk
	}
	if i < len(in.ext) {
		return 0, false, in.ext[i].lblk - lblk
	}
	return 0, false, ^uint32(0) - lblk
}

// setMapping maps [lblk, lblk+n) to [pblk, pblk+n) in the in-memory list,
// replacing whatever was mapped there, and merges with neighbours.
func (in *inode) setMapping(lblk uint32, pblk uint64, n uint32, uninit bool) {
	in.unmap(lblk, n)
	i := sort.Search(len(in.ext), func(i int) bool { return in.ext[i].lblk > lblk })
	in.ext = append(in.ext, extent{})
	copy(in.ext[i+1:], in.ext[i:])
	in.ext[i] = extent{lblk: lblk, pblk: pblk, len: n, uninit: uninit}
	in.mergeAround(i)
}

func (in *inode) mergeAround(i int) {
	canMerge := func(a, b extent) bool {
		limit := uint32(maxInitLen)
		if a.uninit {
			limit = maxUninitLen
		}
		return a.end() == b.lblk && a.pblk+uint64(a.len) == b.pblk && a.uninit == b.uninit && a.len+b.len <= limit
	}
	if i+1 < len(in.ext) && canMerge(in.ext[i], in.ext[i+1]) {
		in.ext[i].len += in.ext[i+1].len
		in.ext = append(in.ext[:i+1], in.ext[i+2:]...)
	}
	if i > 0 && canMerge(in.ext[i-1], in.ext[i]) {
		in.ext[i-1].len += in.ext[i].len
		in.ext = append(in.ext[:i], in.ext[i+1:]...)
	}
}

// unmap removes [lblk, lblk+n) from the list and returns the physical
// ranges that were mapped there (for the caller to free).
func (in *inode) unmap(lblk uint32, n uint32) []physRange {
	end := lblk + n
	if end < lblk {
		end = ^uint32(0)
	}
	var freed []physRange
	var out []extent
	for _, e := range in.ext {
		if e.end() <= lblk || e.lblk >= end {
			out = append(out, e)
			continue
		}
		if e.lblk < lblk { // keep the head
			out = append(out, extent{e.lblk, e.pblk, lblk - e.lblk, e.uninit})
		}
		cutFrom, cutTo := max(e.lblk, lblk), min(e.end(), end)
		freed = append(freed, physRange{e.pblk + uint64(cutFrom-e.lblk), cutTo - cutFrom})
		if e.end() > end { // keep the tail
			out = append(out, extent{end, e.pblk + uint64(end-e.lblk), e.end() - end, e.uninit})
		}
	}
	in.ext = out
	return freed
}

// saveExtents writes in.ext back as an extent tree of minimal depth, with
// every node packed full except the last of each level. Existing tree
// blocks are reused in order (so an append rewrites only the last leaf);
// missing ones are allocated near the data, surplus ones freed. It updates
// i_blocks for the change in tree blocks but does not write the inode.
func (fs *FS) saveExtents(in *inode) error {
	per := fs.extPerBlock()
	// Build the levels bottom-up: level 0 holds leaf entries.
	var leafEntries [][extEntrySize]byte
	for _, e := range in.ext {
		var b [extEntrySize]byte
		le.PutUint32(b[0:], e.lblk)
		l := e.len
		if e.uninit {
			l += maxInitLen
		}
		le.PutUint16(b[4:], uint16(l))
		le.PutUint16(b[6:], uint16(e.pblk>>32))
		le.PutUint32(b[8:], uint32(e.pblk))
		leafEntries = append(leafEntries, b)
	}
	// Count the nodes per level: leaves first, then index levels, until
	// what remains fits in the inode's root.
	var levelNodes []int
	for n := len(leafEntries); n > extRootEntries; {
		n = (n + per - 1) / per
		levelNodes = append(levelNodes, n)
	}
	depth := len(levelNodes)

	// Assign blocks: reuse old tree blocks, allocate the rest.
	need := 0
	for _, n := range levelNodes {
		need += n
	}
	old := in.treeBlocks
	blocks := make([]uint64, 0, need)
	for i := 0; i < need && i < len(old); i++ {
		blocks = append(blocks, old[i])
	}
	goal := uint64(0)
	if len(in.ext) > 0 {
		goal = in.ext[0].pblk
	}
	for len(blocks) < need {
		b, n, err := fs.allocBlocks(goal, uint32(need-len(blocks)))
		if err != nil {
			// Give back what this call allocated: nothing references it.
			for _, nb := range blocks[min(len(old), len(blocks)):] {
				fs.freeBlocks(nb, 1)
			}
			return err
		}
		for k := uint64(0); k < uint64(n); k++ {
			blocks = append(blocks, b+k)
			fs.bnew(b + k)
		}
	}
	for _, ob := range old[min(len(old), need):] {
		fs.freeBlocks(ob, 1)
	}

	// Write the nodes level by level, building the index entries above.
	seed := uint32(0)
	if fs.csum {
		seed = fs.inodeSeed(in)
	}
	bi := 0
	cur := leafEntries
	for d := range levelNodes {
		var index [][extEntrySize]byte
		for i := 0; i < len(cur); i += per {
			chunk := cur[i:min(i+per, len(cur))]
			blk := blocks[bi]
			bi++
			buf := make([]byte, fs.blockSize)
			putExtHeader(buf, len(chunk), per, d)
			for k, e := range chunk {
				copy(buf[extHeaderSize+k*extEntrySize:], e[:])
			}
			if fs.csum {
				tail := extHeaderSize + per*extEntrySize
				le.PutUint32(buf[tail:], crc32c(seed, buf[:tail]))
			}
			b, err := fs.bread(blk)
			if err != nil {
				return err
			}
			if string(b.data) != string(buf) {
				copy(b.data, buf)
				fs.markDirty(b)
			}
			// The index entry's ei_block is the first logical block
			// covered by the child, which e2fsck checks exactly.
			var ie [extEntrySize]byte
			le.PutUint32(ie[0:], le.Uint32(chunk[0][0:]))
			le.PutUint32(ie[4:], uint32(blk))
			le.PutUint16(ie[8:], uint16(blk>>32))
			index = append(index, ie)
		}
		cur = index
	}
	root := in.raw[iBlock : iBlock+iBlockLen]
	clear(root)
	putExtHeader(root, len(cur), extRootEntries, depth)
	for k, e := range cur {
		copy(root[extHeaderSize+k*extEntrySize:], e[:])
	}
	in.put32(iFlags, in.flags()|flagExtents)
	in.treeBlocks = blocks
	return nil
}

func putExtHeader(b []byte, entries, maxE, depth int) {
	le.PutUint16(b[0:], extMagic)
	le.PutUint16(b[2:], uint16(entries))
	le.PutUint16(b[4:], uint16(maxE))
	le.PutUint16(b[6:], uint16(depth))
	le.PutUint32(b[8:], 0)
}

// countBlocks is the number of filesystem blocks the inode owns: data
// blocks plus extent tree blocks (what i_blocks must say).
func (in *inode) countBlocks() uint64 {
	n := uint64(len(in.treeBlocks))
	for _, e := range in.ext {
		n += uint64(e.len)
	}
	return n
}

// syncBlocks sets i_blocks from the mapping.
func (fs *FS) syncBlocks(in *inode) {
	in.setBlocks512(in.countBlocks() * uint64(fs.blockSize/512))
}
