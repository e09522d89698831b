package ext4

import (
	"fmt"
	"syscall"
	"time"
)

// Offsets in struct ext4_inode.
const (
	iMode        = 0x00
	iUID         = 0x02
	iSizeLo      = 0x04
	iAtime       = 0x08
	iCtime       = 0x0C
	iMtime       = 0x10
	iDtime       = 0x14
	iGID         = 0x18
	iLinks       = 0x1A
	iBlocksLo    = 0x1C
	iFlags       = 0x20
	iBlock       = 0x28 // i_block[15]: extent root, or a fast symlink target
	iBlockLen    = 60
	iGeneration  = 0x64
	iFileACLLo   = 0x68
	iSizeHi      = 0x6C
	iBlocksHi    = 0x74
	iFileACLHi   = 0x76
	iUIDHi       = 0x78
	iGIDHi       = 0x7A
	iChecksumLo  = 0x7C
	iExtraIsize  = 0x80
	iChecksumHi  = 0x82
	iCtimeExtra  = 0x84
	iMtimeExtra  = 0x88
	iAtimeExtra  = 0x8C
	iCrtime      = 0x90
	iCrtimeExtra = 0x94

	flagIndex      = 0x1000     // EXT4_INDEX_FL: hashed (htree) directory
	flagHugeFile   = 0x40000    // i_blocks counts filesystem blocks
	flagExtents    = 0x80000    // EXT4_EXTENTS_FL
	flagInlineData = 0x10000000 // EXT4_INLINE_DATA_FL
)

// File type bits of i_mode (the same as Linux's S_IF*).
const (
	S_IFMT   = 0xF000
	S_IFSOCK = 0xC000
	S_IFLNK  = 0xA000
	S_IFREG  = 0x8000
	S_IFBLK  = 0x6000
	S_IFDIR  = 0x4000
	S_IFCHR  = 0x2000
	S_IFIFO  = 0x1000
)

var timeNow = time.Now

// inode is an in-memory copy of an on-disk inode. Changes are made to raw
// and pushed into the inode table block by writeInode.
type inode struct {
	ino uint32
	raw []byte

	extLoaded  bool
	ext        []extent // the file's mapping, sorted by logical block
	treeBlocks []uint64 // extent tree blocks below the root (in i_block)
}

func (in *inode) u16(off int) uint16      { return le.Uint16(in.raw[off:]) }
func (in *inode) u32(off int) uint32      { return le.Uint32(in.raw[off:]) }
func (in *inode) put16(off int, v uint16) { le.PutUint16(in.raw[off:], v) }
func (in *inode) put32(off int, v uint32) { le.PutUint32(in.raw[off:], v) }

func (in *inode) mode() uint16  { return in.u16(iMode) }
func (in *inode) isDir() bool   { return in.mode()&S_IFMT == S_IFDIR }
func (in *inode) isReg() bool   { return in.mode()&S_IFMT == S_IFREG }
func (in *inode) isLink() bool  { return in.mode()&S_IFMT == S_IFLNK }
func (in *inode) flags() uint32 { return in.u32(iFlags) }
func (in *inode) links() uint16 { return in.u16(iLinks) }

func (in *inode) size() uint64 {
	return uint64(in.u32(iSizeLo)) | uint64(in.u32(iSizeHi))<<32
}

func (in *inode) setSize(n uint64) {
	in.put32(iSizeLo, uint32(n))
	in.put32(iSizeHi, uint32(n>>32))
}

func (in *inode) uid() uint32 { return uint32(in.u16(iUID)) | uint32(in.u16(iUIDHi))<<16 }
func (in *inode) gid() uint32 { return uint32(in.u16(iGID)) | uint32(in.u16(iGIDHi))<<16 }

// blocks512 is i_blocks in 512-byte sectors (huge_file: 48 bits; with
// EXT4_HUGE_FILE_FL the unit is the filesystem block instead).
func (in *inode) blocks512(fs *FS) uint64 {
	n := uint64(in.u32(iBlocksLo)) | uint64(in.u16(iBlocksHi))<<32
	if in.flags()&flagHugeFile != 0 {
		n *= uint64(fs.blockSize / 512)
	}
	return n
}

func (in *inode) setBlocks512(n uint64) {
	in.put32(iFlags, in.flags()&^flagHugeFile)
	in.put32(iBlocksLo, uint32(n))
	in.put16(iBlocksHi, uint16(n>>32))
}

// hasExtra reports whether the inode's extra area covers a field ending at
// offset end (i_extra_isize counts bytes after the first 128).
func (in *inode) hasExtra(fs *FS, end int) bool {
	return fs.inodeSize > goodOldInodeSize && goodOldInodeSize+int(in.u16(iExtraIsize)) >= end
}

// Timestamps: seconds in the base field; the _extra field holds
// nanoseconds<<2 plus two epoch bits extending the seconds past 2038.
func (in *inode) getTime(fs *FS, base, extra int) time.Time {
	sec := int64(int32(in.u32(base)))
	var nsec int64
	if extra != 0 && in.hasExtra(fs, extra+4) {
		x := in.u32(extra)
		sec += int64(x&3) << 32
		nsec = int64(x >> 2)
	}
	return time.Unix(sec, nsec)
}

func (in *inode) setTime(fs *FS, base, extra int, t time.Time) {
	sec := t.Unix()
	in.put32(base, uint32(int32(sec)))
	if extra != 0 && in.hasExtra(fs, extra+4) {
		epoch := uint32((sec-int64(int32(sec)))>>32) & 3
		in.put32(extra, uint32(t.Nanosecond())<<2|epoch)
	}
}

func (fs *FS) inodeLoc(ino uint32) (uint64, int, error) {
	if ino == 0 || ino > fs.sb.u32(sInodesCount) {
		return 0, 0, syscall.EINVAL
	}
	g := (ino - 1) / fs.ipg
	d, err := fs.gd(g)
	if err != nil {
		return 0, 0, err
	}
	off := uint64((ino-1)%fs.ipg) * uint64(fs.inodeSize)
	return d.inodeTable() + off/uint64(fs.blockSize), int(off % uint64(fs.blockSize)), nil
}

// inodeChecksum is crc32c(seed, ino, generation, inode with both checksum
// halves zeroed) over the full on-disk inode size (ext4_inode_csum).
func (fs *FS) inodeChecksum(ino uint32, raw []byte) uint32 {
	var n [4]byte
	le.PutUint32(n[:], ino)
	c := crc32c(fs.csumSeed, n[:])
	c = crc32c(c, raw[iGeneration:iGeneration+4])
	tmp := make([]byte, len(raw))
	copy(tmp, raw)
	le.PutUint16(tmp[iChecksumLo:], 0)
	hasHi := len(raw) > goodOldInodeSize && goodOldInodeSize+int(le.Uint16(raw[iExtraIsize:])) >= iChecksumHi+2
	if hasHi {
		le.PutUint16(tmp[iChecksumHi:], 0)
	}
	return crc32c(c, tmp)
}

// inodeSeed is the per-inode checksum seed used by extent blocks and
// directory blocks: crc32c over the inode number and generation.
func (fs *FS) inodeSeed(in *inode) uint32 {
	var n [4]byte
	le.PutUint32(n[:], in.ino)
	c := crc32c(fs.csumSeed, n[:])
	return crc32c(c, in.raw[iGeneration:iGeneration+4])
}

// iget returns the inode, reading and verifying it on first use.
func (fs *FS) iget(ino uint32) (*inode, error) {
	if in, ok := fs.inodes[ino]; ok {
		return in, nil
	}
	blk, off, err := fs.inodeLoc(ino)
	if err != nil {
		return nil, err
	}
	b, err := fs.bread(blk)
	if err != nil {
		return nil, err
	}
	in := &inode{ino: ino, raw: make([]byte, fs.inodeSize)}
	copy(in.raw, b.data[off:off+fs.inodeSize])
	if fs.csum {
		c := fs.inodeChecksum(ino, in.raw)
		want := uint32(in.u16(iChecksumLo))
		got := c & 0xFFFF
		if in.hasExtra(fs, iChecksumHi+2) {
			want |= uint32(in.u16(iChecksumHi)) << 16
			got = c
		}
		if got != want {
			return nil, fmt.Errorf("ext4: inode %d checksum mismatch: %w", ino, syscall.EUCLEAN)
		}
	}
	fs.inodes[ino] = in
	return in, nil
}

// writeInode checksums the inode and copies it into its inode table block,
// adding that block to the running transaction.
func (fs *FS) writeInode(in *inode) error {
	blk, off, err := fs.inodeLoc(in.ino)
	if err != nil {
		return err
	}
	b, err := fs.bread(blk)
	if err != nil {
		return err
	}
	if fs.csum {
		c := fs.inodeChecksum(in.ino, in.raw)
		in.put16(iChecksumLo, uint16(c))
		if in.hasExtra(fs, iChecksumHi+2) {
			in.put16(iChecksumHi, uint16(c>>16))
		}
	}
	copy(b.data[off:], in.raw)
	fs.markDirty(b)
	return nil
}

// newInode builds a fresh inode in memory (not yet written).
func (fs *FS) newInode(ino uint32, mode uint16, uid, gid uint32) *inode {
	in := &inode{ino: ino, raw: make([]byte, fs.inodeSize), extLoaded: true}
	in.put16(iMode, mode)
	in.put16(iUID, uint16(uid))
	in.put16(iUIDHi, uint16(uid>>16))
	in.put16(iGID, uint16(gid))
	in.put16(iGIDHi, uint16(gid>>16))
	if fs.inodeSize > goodOldInodeSize {
		want := fs.sb.u16(sWantExtraIsize)
		if want < 32 {
			want = 32
		}
		if int(want) > fs.inodeSize-goodOldInodeSize {
			want = uint16(fs.inodeSize - goodOldInodeSize)
		}
		in.put16(iExtraIsize, want)
	}
	// A fresh generation number: the checksum seed of the inode's blocks,
	// so stale blocks of a previous inode with this number never verify.
	in.put32(iGeneration, uint32(timeNow().UnixNano())^ino*2654435761)
	now := timeNow()
	in.setTime(fs, iAtime, iAtimeExtra, now)
	in.setTime(fs, iCtime, iCtimeExtra, now)
	in.setTime(fs, iMtime, iMtimeExtra, now)
	in.setTime(fs, iCrtime, iCrtimeExtra, now)
	fs.inodes[ino] = in
	return in
}
