package ext4

import (
	"fmt"
	"syscall"
)

// Offsets in struct ext4_group_desc (64 bytes with the 64bit feature; the
// first 32 bytes are the classic descriptor, the rest the _hi halves).
const (
	bgBlockBitmapLo    = 0x00
	bgInodeBitmapLo    = 0x04
	bgInodeTableLo     = 0x08
	bgFreeBlocksLo     = 0x0C
	bgFreeInodesLo     = 0x0E
	bgUsedDirsLo       = 0x10
	bgFlags            = 0x12
	bgBlockBitmapCsum  = 0x18
	bgInodeBitmapCsum  = 0x1A
	bgItableUnusedLo   = 0x1C
	bgChecksum         = 0x1E
	bgBlockBitmapHi    = 0x20
	bgInodeBitmapHi    = 0x24
	bgInodeTableHi     = 0x28
	bgFreeBlocksHi     = 0x2C
	bgFreeInodesHi     = 0x2E
	bgUsedDirsHi       = 0x30
	bgItableUnusedHi   = 0x32
	bgBlockBitmapCsmHi = 0x38
	bgInodeBitmapCsmHi = 0x3A

	bgInodeUninit = 0x1 // inode bitmap and table not initialised
	bgBlockUninit = 0x2 // block bitmap not initialised (compute it)
)

// gd is a view of one group descriptor inside its cached GDT block.
type gd struct {
	fs  *FS
	buf *buffer
	b   []byte
}

func (d gd) lohi32(lo, hi int) uint64 {
	v := uint64(le.Uint32(d.b[lo:]))
	if d.fs.descSize >= minDescSize64Bit {
		v |= uint64(le.Uint32(d.b[hi:])) << 32
	}
	return v
}

func (d gd) lohi16(lo, hi int) uint32 {
	v := uint32(le.Uint16(d.b[lo:]))
	if d.fs.descSize >= minDescSize64Bit {
		v |= uint32(le.Uint16(d.b[hi:])) << 16
	}
	return v
}

func (d gd) setLohi16(lo, hi int, v uint32) {
	le.PutUint16(d.b[lo:], uint16(v))
	if d.fs.descSize >= minDescSize64Bit {
		le.PutUint16(d.b[hi:], uint16(v>>16))
	}
}

func (d gd) blockBitmap() uint64      { return d.lohi32(bgBlockBitmapLo, bgBlockBitmapHi) }
func (d gd) inodeBitmap() uint64      { return d.lohi32(bgInodeBitmapLo, bgInodeBitmapHi) }
func (d gd) inodeTable() uint64       { return d.lohi32(bgInodeTableLo, bgInodeTableHi) }
func (d gd) freeBlocks() uint32       { return d.lohi16(bgFreeBlocksLo, bgFreeBlocksHi) }
func (d gd) freeInodes() uint32       { return d.lohi16(bgFreeInodesLo, bgFreeInodesHi) }
func (d gd) usedDirs() uint32         { return d.lohi16(bgUsedDirsLo, bgUsedDirsHi) }
func (d gd) itableUnused() uint32     { return d.lohi16(bgItableUnusedLo, bgItableUnusedHi) }
func (d gd) flags() uint16            { return le.Uint16(d.b[bgFlags:]) }
func (d gd) setFreeBlocks(v uint32)   { d.setLohi16(bgFreeBlocksLo, bgFreeBlocksHi, v) }
func (d gd) setFreeInodes(v uint32)   { d.setLohi16(bgFreeInodesLo, bgFreeInodesHi, v) }
func (d gd) setUsedDirs(v uint32)     { d.setLohi16(bgUsedDirsLo, bgUsedDirsHi, v) }
func (d gd) setItableUnused(v uint32) { d.setLohi16(bgItableUnusedLo, bgItableUnusedHi, v) }
func (d gd) setFlags(f uint16)        { le.PutUint16(d.b[bgFlags:], f) }

// checksum is the metadata_csum group descriptor checksum: crc32c over the
// little-endian group number and the descriptor with bg_checksum zeroed,
// truncated to 16 bits.
func (fs *FS) gdChecksum(g uint32, b []byte) uint16 {
	var n [4]byte
	le.PutUint32(n[:], g)
	c := crc32c(fs.csumSeed, n[:])
	c = crc32c(c, b[:bgChecksum])
	c = crc32c(c, []byte{0, 0})
	c = crc32c(c, b[bgChecksum+2:fs.descSize])
	return uint16(c)
}

// groupHasSuper reports whether group g holds a superblock backup (and
// group descriptor copies): with sparse_super only groups 0, 1 and powers
// of 3, 5 and 7 do.
func (fs *FS) groupHasSuper(g uint32) bool {
	if !fs.sb.hasROCompat(roCompatSparseSuper) || g <= 1 {
		return true
	}
	for _, p := range []uint32{3, 5, 7} {
		n := p
		for n < g {
			n *= p
		}
		if n == g {
			return true
		}
	}
	return false
}

func (fs *FS) groupFirstBlock(g uint32) uint64 {
	return uint64(fs.firstData) + uint64(g)*uint64(fs.bpg)
}

// groupBlocks is the number of blocks in group g (the last may be short).
func (fs *FS) groupBlocks(g uint32) uint32 {
	if g == fs.groups-1 {
		return uint32(fs.sb.blocksCount() - fs.groupFirstBlock(g))
	}
	return fs.bpg
}

func (fs *FS) descPerBlock() uint32 { return uint32(fs.blockSize / fs.descSize) }

// loadGroupDescriptors finds the descriptor blocks (right after the primary
// superblock, or spread over meta groups with meta_bg) and verifies every
// descriptor checksum, as Linux's ext4_check_descriptors does.
func (fs *FS) loadGroupDescriptors() error {
	n := (fs.groups + fs.descPerBlock() - 1) / fs.descPerBlock()
	fs.gdtBlocks = make([]uint64, n)
	metaBg := fs.sb.hasIncompat(incompatMetaBg)
	firstMeta := fs.sb.u32(sFirstMetaBg)
	for i := uint32(0); i < n; i++ {
		if !metaBg || i < firstMeta {
			fs.gdtBlocks[i] = uint64(fs.firstData) + 1 + uint64(i)
			continue
		}
		g := i * fs.descPerBlock()
		fs.gdtBlocks[i] = fs.groupFirstBlock(g)
		if fs.groupHasSuper(g) {
			fs.gdtBlocks[i]++
		}
	}
	total := fs.sb.blocksCount()
	for g := uint32(0); g < fs.groups; g++ {
		d, err := fs.gd(g)
		if err != nil {
			return err
		}
		if fs.csum {
			if got, want := fs.gdChecksum(g, d.b), le.Uint16(d.b[bgChecksum:]); got != want {
				return fmt.Errorf("ext4: group %d descriptor checksum %#x, want %#x: %w", g, got, want, syscall.EUCLEAN)
			}
		}
		if d.blockBitmap() >= total || d.inodeBitmap() >= total || d.inodeTable() >= total {
			return fmt.Errorf("ext4: group %d descriptor points outside the filesystem: %w", g, syscall.EUCLEAN)
		}
	}
	return nil
}

func (fs *FS) gd(g uint32) (gd, error) {
	per := fs.descPerBlock()
	buf, err := fs.bread(fs.gdtBlocks[g/per])
	if err != nil {
		return gd{}, err
	}
	off := int(g%per) * fs.descSize
	return gd{fs: fs, buf: buf, b: buf.data[off : off+fs.descSize]}, nil
}

// touchGroup records that group g's descriptor (and maybe bitmaps) changed;
// finishGroups recomputes its checksums at commit.
func (fs *FS) touchGroup(g uint32, d gd) {
	fs.dirtyGroups[g] = true
	fs.markDirty(d.buf)
}

// finishGroups recomputes bitmap and descriptor checksums of every group
// the transaction touched.
func (fs *FS) finishGroups() error {
	for g := range fs.dirtyGroups {
		d, err := fs.gd(g)
		if err != nil {
			return err
		}
		if fs.csum {
			if d.flags()&bgBlockUninit == 0 {
				bb, err := fs.bread(d.blockBitmap())
				if err != nil {
					return err
				}
				c := crc32c(fs.csumSeed, bb.data[:fs.bpg/8])
				le.PutUint16(d.b[bgBlockBitmapCsum:], uint16(c))
				if fs.descSize >= minDescSize64Bit {
					le.PutUint16(d.b[bgBlockBitmapCsmHi:], uint16(c>>16))
				}
			}
			if d.flags()&bgInodeUninit == 0 {
				ib, err := fs.bread(d.inodeBitmap())
				if err != nil {
					return err
				}
				c := crc32c(fs.csumSeed, ib.data[:fs.ipg/8])
				le.PutUint16(d.b[bgInodeBitmapCsum:], uint16(c))
				if fs.descSize >= minDescSize64Bit {
					le.PutUint16(d.b[bgInodeBitmapCsmHi:], uint16(c>>16))
				}
			}
			le.PutUint16(d.b[bgChecksum:], fs.gdChecksum(g, d.b))
		}
		fs.markDirty(d.buf)
		delete(fs.dirtyGroups, g)
	}
	return nil
}

// blockBitmap returns group g's block bitmap, building it first if the
// group is BLOCK_UNINIT (then the bitmap is implied: only the group's own
// superblock backup, descriptor and reserved-GDT blocks, and whatever flex_bg
// placed here of any group's bitmaps and inode tables, are in use).
func (fs *FS) blockBitmap(g uint32) (*buffer, gd, error) {
	d, err := fs.gd(g)
	if err != nil {
		return nil, gd{}, err
	}
	if d.flags()&bgBlockUninit == 0 {
		b, err := fs.bread(d.blockBitmap())
		return b, d, err
	}
	b := fs.bnew(d.blockBitmap())
	start := fs.groupFirstBlock(g)
	end := start + uint64(fs.groupBlocks(g))
	mark := func(blk uint64) {
		if blk >= start && blk < end {
			setBit(b.data, uint32(blk-start))
		}
	}
	if fs.groupHasSuper(g) && !fs.sb.hasIncompat(incompatMetaBg) {
		n := 1 + uint64(len(fs.gdtBlocks)) + uint64(fs.sb.u16(sReservedGdtBlocks))
		for i := uint64(0); i < n; i++ {
			mark(start + i)
		}
	}
	itBlocks := (uint64(fs.ipg)*uint64(fs.inodeSize) + uint64(fs.blockSize) - 1) / uint64(fs.blockSize)
	for h := uint32(0); h < fs.groups; h++ {
		o, err := fs.gd(h)
		if err != nil {
			return nil, gd{}, err
		}
		mark(o.blockBitmap())
		mark(o.inodeBitmap())
		for i := uint64(0); i < itBlocks; i++ {
			mark(o.inodeTable() + i)
		}
	}
	for i := fs.groupBlocks(g); i < uint32(fs.blockSize*8); i++ {
		setBit(b.data, i)
	}
	d.setFlags(d.flags() &^ bgBlockUninit)
	fs.markDirty(b)
	fs.touchGroup(g, d)
	return b, d, nil
}

// inodeBitmap returns group g's inode bitmap, initialising an INODE_UNINIT
// group's bitmap to "all free" plus the padding bits past s_inodes_per_group.
func (fs *FS) inodeBitmap(g uint32) (*buffer, gd, error) {
	d, err := fs.gd(g)
	if err != nil {
		return nil, gd{}, err
	}
	if d.flags()&bgInodeUninit == 0 {
		b, err := fs.bread(d.inodeBitmap())
		return b, d, err
	}
	b := fs.bnew(d.inodeBitmap())
	for i := fs.ipg; i < uint32(fs.blockSize*8); i++ {
		setBit(b.data, i)
	}
	d.setFlags(d.flags() &^ bgInodeUninit)
	fs.markDirty(b)
	fs.touchGroup(g, d)
	return b, d, nil
}

func setBit(b []byte, i uint32)       { b[i/8] |= 1 << (i % 8) }
func clearBit(b []byte, i uint32)     { b[i/8] &^= 1 << (i % 8) }
func testBit(b []byte, i uint32) bool { return b[i/8]&(1<<(i%8)) != 0 }
