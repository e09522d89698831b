package ext4

import (
	"fmt"
	"syscall"
)

// Directory blocks hold struct ext4_dir_entry_2 records: inode (le32),
// rec_len (le16, distance to the next record), name_len (u8), file_type
// (u8), name. Records are 4-byte aligned and chain through the whole block.
// With metadata_csum every block ends in a 12-byte fake record
// (ext4_dir_entry_tail: inode 0, rec_len 12, name_len 0, type 0xDE) whose
// last 4 bytes are crc32c(inode seed, block up to the tail).
const (
	direntHeader  = 8
	dirTailSize   = 12
	dirTailFtype  = 0xDE
	maxNameLen    = 255
	linkMax       = 65000 // EXT4_LINK_MAX; dir_nlink uses 1 beyond it
	fastSymlinkSz = iBlockLen
)

// ext4 directory file types (EXT4_FT_*).
const (
	ftUnknown = 0
	ftReg     = 1
	ftDir     = 2
	ftChr     = 3
	ftBlk     = 4
	ftFifo    = 5
	ftSock    = 6
	ftSymlink = 7
)

func ftypeOf(mode uint16) uint8 {
	switch mode & S_IFMT {
	case S_IFREG:
		return ftReg
	case S_IFDIR:
		return ftDir
	case S_IFCHR:
		return ftChr
	case S_IFBLK:
		return ftBlk
	case S_IFIFO:
		return ftFifo
	case S_IFSOCK:
		return ftSock
	case S_IFLNK:
		return ftSymlink
	}
	return ftUnknown
}

// DirEntry is one directory entry as returned by ReadDir. Type is a Linux
// DT_* value (DT_REG=8, DT_DIR=4, DT_LNK=10, ...; 0 if unknown).
type DirEntry struct {
	Name string
	Ino  uint32
	Type uint8
}

var ftToDT = [8]uint8{0, 8, 4, 2, 6, 1, 12, 10}

func recLen(nameLen int) int { return (direntHeader + nameLen + 3) &^ 3 }

// dirent is a decoded record and where it sits.
type dirent struct {
	off, recLen int
	ino         uint32
	nameLen     int
	ftype       uint8
}

func (fs *FS) hasTail(b []byte) bool {
	t := b[len(b)-dirTailSize:]
	return le.Uint32(t[0:]) == 0 && le.Uint16(t[4:]) == dirTailSize && t[6] == 0 && t[7] == dirTailFtype
}

// parseDirBlock decodes the records of one directory block, excluding the
// checksum tail; it stops with EUCLEAN at a malformed record.
func (fs *FS) parseDirBlock(b []byte) ([]dirent, error) {
	end := len(b)
	if fs.csum && fs.hasTail(b) {
		end -= dirTailSize
	}
	var out []dirent
	for off := 0; off < end; {
		if off+direntHeader > end {
			return out, fmt.Errorf("ext4: truncated directory record: %w", syscall.EUCLEAN)
		}
		d := dirent{off: off, ino: le.Uint32(b[off:]), recLen: int(le.Uint16(b[off+4:])),
			nameLen: int(b[off+6]), ftype: b[off+7]}
		if d.recLen < direntHeader || d.recLen%4 != 0 || off+d.recLen > end || direntHeader+d.nameLen > d.recLen {
			return out, fmt.Errorf("ext4: bad directory record at %d: %w", off, syscall.EUCLEAN)
		}
		out = append(out, d)
		off += d.recLen
	}
	return out, nil
}

func (fs *FS) setDirTail(in *inode, b []byte) {
	if !fs.csum {
		return
	}
	t := b[len(b)-dirTailSize:]
	clear(t)
	le.PutUint16(t[4:], dirTailSize)
	t[7] = dirTailFtype
	le.PutUint32(t[8:], crc32c(fs.inodeSeed(in), b[:len(b)-dirTailSize]))
}

// dirBlock reads logical block lblk of a directory, verifying its checksum
// when it carries a tail (htree index blocks carry a different tail and
// are skipped by readers anyway).
func (fs *FS) dirBlock(dir *inode, lblk uint32) (*buffer, error) {
	p, ok := dir.lookup(lblk)
	if !ok {
		return nil, nil
	}
	b, err := fs.bread(p)
	if err != nil {
		return nil, err
	}
	if fs.csum && fs.hasTail(b.data) {
		want := le.Uint32(b.data[fs.blockSize-4:])
		if crc32c(fs.inodeSeed(dir), b.data[:fs.blockSize-dirTailSize]) != want {
			return nil, fmt.Errorf("ext4: directory %d block %d checksum mismatch: %w", dir.ino, lblk, syscall.EUCLEAN)
		}
	}
	return b, nil
}

func (fs *FS) dirBlocks(dir *inode) uint32 {
	return uint32(dir.size() / uint64(fs.blockSize))
}

// forEachEntry calls fn for every live record of the directory, in on-disk
// order. Hashed (htree) directories are read linearly: their index blocks
// look like one empty record, and the root's index hides inside "..".
func (fs *FS) forEachEntry(dir *inode, fn func(b *buffer, lblk uint32, d dirent, prev int) (stop bool, err error)) error {
	if err := fs.loadExtents(dir); err != nil {
		return err
	}
	for lblk := uint32(0); lblk < fs.dirBlocks(dir); lblk++ {
		b, err := fs.dirBlock(dir, lblk)
		if err != nil {
			return err
		}
		if b == nil {
			continue
		}
		ents, err := fs.parseDirBlock(b.data)
		if err != nil {
			return err
		}
		prev := -1
		for _, d := range ents {
			if d.ino != 0 {
				stop, err := fn(b, lblk, d, prev)
				if err != nil || stop {
					return err
				}
			}
			prev = d.off
		}
	}
	return nil
}

func (fs *FS) nameAt(b *buffer, d dirent) string {
	return string(b.data[d.off+direntHeader : d.off+direntHeader+d.nameLen])
}

// dirLookup finds name in dir.
func (fs *FS) dirLookup(dir *inode, name string) (uint32, error) {
	if !dir.isDir() {
		return 0, syscall.ENOTDIR
	}
	var found uint32
	err := fs.forEachEntry(dir, func(b *buffer, _ uint32, d dirent, _ int) (bool, error) {
		if d.nameLen == len(name) && fs.nameAt(b, d) == name {
			found = d.ino
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	if found == 0 {
		return 0, syscall.ENOENT
	}
	return found, nil
}

// dirFind locates the record for name: its block, record and the offset of
// the record before it in the block (-1 if first).
func (fs *FS) dirFind(dir *inode, name string) (*buffer, dirent, int, error) {
	var fb *buffer
	var fd dirent
	var fprev int
	err := fs.forEachEntry(dir, func(b *buffer, _ uint32, d dirent, prev int) (bool, error) {
		if d.nameLen == len(name) && fs.nameAt(b, d) == name {
			fb, fd, fprev = b, d, prev
			return true, nil
		}
		return false, nil
	})
	if err == nil && fb == nil {
		err = syscall.ENOENT
	}
	return fb, fd, fprev, err
}

// dirRemove deletes the record for name: it is absorbed into the previous
// record's rec_len, or, when first in its block, its inode is zeroed. Both
// keep htree leaves valid, so indexed directories need no index change.
func (fs *FS) dirRemove(dir *inode, name string) error {
	b, d, prev, err := fs.dirFind(dir, name)
	if err != nil {
		return err
	}
	if prev >= 0 {
		pr := int(le.Uint16(b.data[prev+4:]))
		le.PutUint16(b.data[prev+4:], uint16(pr+d.recLen))
		clear(b.data[d.off : d.off+direntHeader+d.nameLen])
	} else {
		le.PutUint32(b.data[d.off:], 0)
	}
	fs.setDirTail(dir, b.data)
	fs.markDirty(b)
	return nil
}

// dirSetIno points an existing record at another inode (rename over an
// existing name, or ".." of a moved directory).
func (fs *FS) dirSetIno(dir *inode, name string, ino uint32, ftype uint8) error {
	b, d, _, err := fs.dirFind(dir, name)
	if err != nil {
		return err
	}
	le.PutUint32(b.data[d.off:], ino)
	if fs.sb.hasIncompat(incompatFiletype) {
		b.data[d.off+7] = ftype
	}
	fs.setDirTail(dir, b.data)
	fs.markDirty(b)
	return nil
}

func (fs *FS) putDirent(b []byte, off, rec int, ino uint32, name string, ftype uint8) {
	le.PutUint32(b[off:], ino)
	le.PutUint16(b[off+4:], uint16(rec))
	b[off+6] = uint8(len(name))
	b[off+7] = 0
	if fs.sb.hasIncompat(incompatFiletype) {
		b[off+7] = ftype
	}
	copy(b[off+direntHeader:], name)
}

// dirAdd inserts a record, using the first gap big enough, or a new block
// at the end of the directory. An indexed directory is first made linear
// (see unindexDir): inserting by hash would need the htree hash functions.
func (fs *FS) dirAdd(dir *inode, name string, ino uint32, ftype uint8) error {
	if err := fs.loadExtents(dir); err != nil {
		return err
	}
	if dir.flags()&flagIndex != 0 {
		if err := fs.unindexDir(dir); err != nil {
			return err
		}
	}
	need := recLen(len(name))
	for lblk := uint32(0); lblk < fs.dirBlocks(dir); lblk++ {
		b, err := fs.dirBlock(dir, lblk)
		if err != nil {
			return err
		}
		if b == nil {
			continue
		}
		ents, err := fs.parseDirBlock(b.data)
		if err != nil {
			return err
		}
		for _, d := range ents {
			used := 0
			if d.ino != 0 {
				used = recLen(d.nameLen)
			}
			if d.recLen-used < need {
				continue
			}
			if used == 0 {
				fs.putDirent(b.data, d.off, d.recLen, ino, name, ftype)
			} else {
				le.PutUint16(b.data[d.off+4:], uint16(used))
				fs.putDirent(b.data, d.off+used, d.recLen-used, ino, name, ftype)
			}
			fs.setDirTail(dir, b.data)
			fs.markDirty(b)
			return nil
		}
	}
	// No room: append a block holding just this record.
	b, err := fs.appendDirBlock(dir)
	if err != nil {
		return err
	}
	fs.putDirent(b.data, 0, fs.dirSpace(), ino, name, ftype)
	fs.setDirTail(dir, b.data)
	return nil
}

// dirSpace is the record space of a directory block (minus the tail).
func (fs *FS) dirSpace() int {
	if fs.csum {
		return fs.blockSize - dirTailSize
	}
	return fs.blockSize
}

// appendDirBlock grows the directory by one zeroed, dirty block.
func (fs *FS) appendDirBlock(dir *inode) (*buffer, error) {
	lblk := fs.dirBlocks(dir)
	goal := uint64(0)
	if p, ok := dir.lookup(lblk - 1); ok && lblk > 0 {
		goal = p + 1
	} else {
		d, err := fs.gd((dir.ino - 1) / fs.ipg)
		if err != nil {
			return nil, err
		}
		goal = d.inodeTable()
	}
	p, _, err := fs.allocBlocks(goal, 1)
	if err != nil {
		return nil, err
	}
	dir.setMapping(lblk, p, 1, false)
	if err := fs.saveExtents(dir); err != nil {
		dir.unmap(lblk, 1)
		fs.freeBlocks(p, 1)
		return nil, err
	}
	dir.setSize(uint64(lblk+1) * uint64(fs.blockSize))
	fs.syncBlocks(dir)
	if err := fs.writeInode(dir); err != nil {
		return nil, err
	}
	b := fs.bnew(p)
	fs.markDirty(b)
	return b, nil
}

// unindexDir turns a hashed directory into a linear one, which ext4 and
// e2fsck accept: the root block becomes "." and ".." with ".." spanning the
// block (the dx_root data lived in that slack anyway), and interior index
// blocks, which are one empty record spanning the block, become empty
// leaves with a checksum tail. Leaf blocks are already ordinary.
func (fs *FS) unindexDir(dir *inode) error {
	for lblk := uint32(0); lblk < fs.dirBlocks(dir); lblk++ {
		p, ok := dir.lookup(lblk)
		if !ok {
			continue
		}
		b, err := fs.bread(p)
		if err != nil {
			return err
		}
		if lblk == 0 {
			dotdot := 12
			if int(le.Uint16(b.data[4:])) != 12 || le.Uint16(b.data[dotdot+4:]) == 0 {
				return fmt.Errorf("ext4: directory %d: malformed htree root: %w", dir.ino, syscall.EUCLEAN)
			}
			nl := int(b.data[dotdot+6])
			rest := dotdot + recLen(nl)
			clear(b.data[rest:])
			le.PutUint16(b.data[dotdot+4:], uint16(fs.dirSpace()-dotdot))
		} else if le.Uint32(b.data[0:]) == 0 && int(le.Uint16(b.data[4:])) == fs.blockSize {
			clear(b.data)
			le.PutUint16(b.data[4:], uint16(fs.dirSpace()))
		} else {
			continue
		}
		fs.setDirTail(dir, b.data)
		fs.markDirty(b)
	}
	dir.put32(iFlags, dir.flags()&^flagIndex)
	return fs.writeInode(dir)
}

// dirIsEmpty reports whether a directory holds only "." and "..".
func (fs *FS) dirIsEmpty(dir *inode) (bool, error) {
	empty := true
	err := fs.forEachEntry(dir, func(b *buffer, _ uint32, d dirent, _ int) (bool, error) {
		n := fs.nameAt(b, d)
		if n != "." && n != ".." {
			empty = false
			return true, nil
		}
		return false, nil
	})
	return empty, err
}
