package ext4

import (
	"syscall"
	"time"
)

// Stat is the attributes of an inode.
type Stat struct {
	Ino    uint32
	Mode   uint32 // S_IF* type bits | permission bits
	Nlink  uint32
	UID    uint32
	GID    uint32
	Size   int64
	Blocks int64 // 512-byte units, like st_blocks
	Atime  time.Time
	Mtime  time.Time
	Ctime  time.Time
	Crtime time.Time
}

// Lookup returns the inode number of name in directory dir.
func (fs *FS) Lookup(dir uint32, name string) (uint32, error) {
	fs.lock()
	defer fs.mu.Unlock()
	d, err := fs.iget(dir)
	if err != nil {
		return 0, err
	}
	return fs.dirLookup(d, name)
}

// Stat returns an inode's attributes.
func (fs *FS) Stat(ino uint32) (Stat, error) {
	fs.lock()
	defer fs.mu.Unlock()
	in, err := fs.iget(ino)
	if err != nil {
		return Stat{}, err
	}
	return Stat{
		Ino: ino, Mode: uint32(in.mode()), Nlink: uint32(in.links()),
		UID: in.uid(), GID: in.gid(), Size: int64(in.size()), Blocks: int64(in.blocks512(fs)),
		Atime:  in.getTime(fs, iAtime, iAtimeExtra),
		Mtime:  in.getTime(fs, iMtime, iMtimeExtra),
		Ctime:  in.getTime(fs, iCtime, iCtimeExtra),
		Crtime: in.getTime(fs, iCrtime, iCrtimeExtra),
	}, nil
}

// ReadDir returns every entry of a directory, "." and ".." included, in
// on-disk order.
func (fs *FS) ReadDir(dir uint32) ([]DirEntry, error) {
	fs.lock()
	defer fs.mu.Unlock()
	d, err := fs.iget(dir)
	if err != nil {
		return nil, err
	}
	if !d.isDir() {
		return nil, syscall.ENOTDIR
	}
	var out []DirEntry
	err = fs.forEachEntry(d, func(b *buffer, _ uint32, e dirent, _ int) (bool, error) {
		out = append(out, DirEntry{Name: fs.nameAt(b, e), Ino: e.ino, Type: ftToDT[e.ftype&7]})
		return false, nil
	})
	return out, err
}

// Readlink returns a symlink's target.
func (fs *FS) Readlink(ino uint32) (string, error) {
	fs.lock()
	defer fs.mu.Unlock()
	in, err := fs.iget(ino)
	if err != nil {
		return "", err
	}
	if !in.isLink() {
		return "", syscall.EINVAL
	}
	size := in.size()
	if size > uint64(fs.blockSize) {
		return "", syscall.EUCLEAN
	}
	// A fast symlink keeps its target in i_block and owns no blocks.
	if in.flags()&(flagExtents|flagInlineData) == 0 && size < fastSymlinkSz {
		return string(in.raw[iBlock : iBlock+int(size)]), nil
	}
	buf := make([]byte, size)
	n, err := fs.readData(in, buf, 0)
	return string(buf[:n]), err
}

func validName(name string) error {
	if name == "" || name == "." || name == ".." {
		return syscall.EINVAL
	}
	if len(name) > maxNameLen {
		return syscall.ENAMETOOLONG
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}

// prepareCreate checks that name can be created in dir.
func (fs *FS) prepareCreate(dir uint32, name string) (*inode, error) {
	if err := fs.checkWritable(); err != nil {
		return nil, err
	}
	if err := validName(name); err != nil {
		if name == "." || name == ".." {
			return nil, syscall.EEXIST
		}
		return nil, err
	}
	d, err := fs.iget(dir)
	if err != nil {
		return nil, err
	}
	if !d.isDir() {
		return nil, syscall.ENOTDIR
	}
	if d.links() == 0 {
		return nil, syscall.ENOENT // removed directory
	}
	if _, err := fs.dirLookup(d, name); err == nil {
		return nil, syscall.EEXIST
	} else if err != syscall.ENOENT {
		return nil, err
	}
	return d, nil
}

func (fs *FS) touchDir(d *inode) error {
	now := timeNow()
	d.setTime(fs, iMtime, iMtimeExtra, now)
	d.setTime(fs, iCtime, iCtimeExtra, now)
	return fs.writeInode(d)
}

// Create makes a regular file (or a FIFO or socket, by mode's type bits)
// named name in dir and returns its inode number.
func (fs *FS) Create(dir uint32, name string, mode uint32, uid, gid uint32) (uint32, error) {
	fs.lock()
	defer fs.mu.Unlock()
	d, err := fs.prepareCreate(dir, name)
	if err != nil {
		return 0, err
	}
	typ := uint16(mode) & S_IFMT
	switch typ {
	case 0:
		typ = S_IFREG
	case S_IFREG, S_IFIFO, S_IFSOCK:
	default:
		return 0, syscall.EINVAL
	}
	ino, err := fs.allocInode(dir, false)
	if err != nil {
		return 0, err
	}
	in := fs.newInode(ino, typ|uint16(mode)&0o7777, uid, gid)
	in.put16(iLinks, 1)
	if typ == S_IFREG {
		// New regular files are extent-mapped from the start: an empty
		// root in i_block, as Linux creates them.
		if err := fs.saveExtents(in); err != nil {
			return 0, err
		}
	}
	if err := fs.writeInode(in); err != nil {
		return 0, err
	}
	if err := fs.dirAdd(d, name, ino, ftypeOf(typ)); err != nil {
		fs.freeInode(ino, false)
		return 0, err
	}
	if err := fs.touchDir(d); err != nil {
		return 0, err
	}
	return ino, fs.maybeCommit()
}

// Mkdir makes a directory and returns its inode number.
func (fs *FS) Mkdir(dir uint32, name string, mode uint32, uid, gid uint32) (uint32, error) {
	fs.lock()
	defer fs.mu.Unlock()
	d, err := fs.prepareCreate(dir, name)
	if err != nil {
		return 0, err
	}
	ino, err := fs.allocInode(dir, true)
	if err != nil {
		return 0, err
	}
	in := fs.newInode(ino, S_IFDIR|uint16(mode)&0o7777, uid, gid)
	in.put16(iLinks, 2)
	b, err := fs.appendDirBlock(in)
	if err != nil {
		fs.freeInode(ino, true)
		return 0, err
	}
	fs.putDirent(b.data, 0, 12, ino, ".", ftDir)
	fs.putDirent(b.data, 12, fs.dirSpace()-12, dir, "..", ftDir)
	fs.setDirTail(in, b.data)
	if err := fs.dirAdd(d, name, ino, ftDir); err != nil {
		return 0, err
	}
	fs.incLinks(d)
	if err := fs.touchDir(d); err != nil {
		return 0, err
	}
	return ino, fs.maybeCommit()
}

// incLinks adds a subdirectory link; past EXT4_LINK_MAX dir_nlink parks
// the count at 1, meaning "not counted".
func (fs *FS) incLinks(d *inode) {
	switch n := d.links(); {
	case n == 1 && d.isDir():
	case n >= linkMax-1 && d.isDir():
		d.put16(iLinks, 1)
		fs.sb.put32(sFeatureROCompat, fs.sb.roCompat()|roCompatDirNlink)
	default:
		d.put16(iLinks, n+1)
	}
}

func (fs *FS) decLinks(d *inode) {
	if n := d.links(); n > 0 && !(n == 1 && d.isDir()) {
		d.put16(iLinks, n-1)
	}
}

// Symlink creates a symbolic link: targets shorter than 60 bytes live in
// the inode ("fast"), longer ones in a data block.
func (fs *FS) Symlink(dir uint32, name, target string, uid, gid uint32) (uint32, error) {
	fs.lock()
	defer fs.mu.Unlock()
	if len(target) == 0 {
		return 0, syscall.ENOENT
	}
	if len(target) >= fs.blockSize {
		return 0, syscall.ENAMETOOLONG
	}
	d, err := fs.prepareCreate(dir, name)
	if err != nil {
		return 0, err
	}
	ino, err := fs.allocInode(dir, false)
	if err != nil {
		return 0, err
	}
	in := fs.newInode(ino, S_IFLNK|0o777, uid, gid)
	in.put16(iLinks, 1)
	if len(target) < fastSymlinkSz {
		copy(in.raw[iBlock:], target)
		in.setSize(uint64(len(target)))
	} else {
		if err := fs.saveExtents(in); err != nil {
			return 0, err
		}
		if _, err := fs.writeData(in, []byte(target), 0); err != nil {
			fs.freeInode(ino, false)
			return 0, err
		}
	}
	if err := fs.writeInode(in); err != nil {
		return 0, err
	}
	if err := fs.dirAdd(d, name, ino, ftSymlink); err != nil {
		return 0, err
	}
	if err := fs.touchDir(d); err != nil {
		return 0, err
	}
	return ino, fs.maybeCommit()
}

// Link adds a hard link to ino (not a directory) as name in dir.
func (fs *FS) Link(dir uint32, name string, ino uint32) error {
	fs.lock()
	defer fs.mu.Unlock()
	d, err := fs.prepareCreate(dir, name)
	if err != nil {
		return err
	}
	in, err := fs.iget(ino)
	if err != nil {
		return err
	}
	if in.isDir() {
		return syscall.EPERM
	}
	if in.links() == 0 {
		return syscall.ENOENT
	}
	if in.links() >= linkMax {
		return syscall.EMLINK
	}
	if err := fs.dirAdd(d, name, ino, ftypeOf(in.mode())); err != nil {
		return err
	}
	in.put16(iLinks, in.links()+1)
	in.setTime(fs, iCtime, iCtimeExtra, timeNow())
	if err := fs.writeInode(in); err != nil {
		return err
	}
	if err := fs.touchDir(d); err != nil {
		return err
	}
	return fs.maybeCommit()
}

// Unlink removes name (not a directory) from dir; the inode is freed when
// its last link goes.
func (fs *FS) Unlink(dir uint32, name string) error {
	fs.lock()
	defer fs.mu.Unlock()
	if err := fs.checkWritable(); err != nil {
		return err
	}
	d, err := fs.iget(dir)
	if err != nil {
		return err
	}
	ino, err := fs.dirLookup(d, name)
	if err != nil {
		return err
	}
	in, err := fs.iget(ino)
	if err != nil {
		return err
	}
	if in.isDir() {
		return syscall.EISDIR
	}
	if err := fs.dirRemove(d, name); err != nil {
		return err
	}
	if err := fs.touchDir(d); err != nil {
		return err
	}
	if err := fs.dropLink(in); err != nil {
		return err
	}
	return fs.maybeCommit()
}

// dropLink decrements a non-directory's link count and frees it at zero.
func (fs *FS) dropLink(in *inode) error {
	fs.decLinks(in)
	in.setTime(fs, iCtime, iCtimeExtra, timeNow())
	if in.links() == 0 {
		return fs.releaseOrOrphan(in)
	}
	return fs.writeInode(in)
}

// release frees an unlinked inode: its blocks, its extent tree and its
// inode number. As Linux does, the inode keeps its mode and gets i_dtime.
func (fs *FS) release(in *inode) error {
	if err := fs.loadExtents(in); err != nil {
		return err
	}
	for _, e := range in.ext {
		fs.freeBlocks(e.pblk, e.len)
	}
	for _, b := range in.treeBlocks {
		fs.freeBlocks(b, 1)
	}
	in.ext, in.treeBlocks = nil, nil
	if in.flags()&flagExtents != 0 {
		root := in.raw[iBlock : iBlock+iBlockLen]
		clear(root)
		putExtHeader(root, 0, extRootEntries, 0)
	}
	in.put16(iLinks, 0)
	in.setSize(0)
	in.setBlocks512(0)
	in.put32(iDtime, uint32(timeNow().Unix()))
	if err := fs.writeInode(in); err != nil {
		return err
	}
	return fs.freeInode(in.ino, in.isDir())
}

// Rmdir removes the empty directory name from dir.
func (fs *FS) Rmdir(dir uint32, name string) error {
	fs.lock()
	defer fs.mu.Unlock()
	if err := fs.checkWritable(); err != nil {
		return err
	}
	if name == "." {
		return syscall.EINVAL
	}
	if name == ".." {
		return syscall.ENOTEMPTY
	}
	d, err := fs.iget(dir)
	if err != nil {
		return err
	}
	ino, err := fs.dirLookup(d, name)
	if err != nil {
		return err
	}
	child, err := fs.iget(ino)
	if err != nil {
		return err
	}
	if !child.isDir() {
		return syscall.ENOTDIR
	}
	if ino == RootIno {
		return syscall.EBUSY
	}
	if empty, err := fs.dirIsEmpty(child); err != nil {
		return err
	} else if !empty {
		return syscall.ENOTEMPTY
	}
	if err := fs.dirRemove(d, name); err != nil {
		return err
	}
	fs.decLinks(d)
	if err := fs.touchDir(d); err != nil {
		return err
	}
	child.put16(iLinks, 0)
	if err := fs.releaseOrOrphan(child); err != nil {
		return err
	}
	return fs.maybeCommit()
}

// Rename moves oldName in oldDir to newName in newDir, replacing an
// existing newName as rename(2) does (a directory only by an empty one).
func (fs *FS) Rename(oldDir uint32, oldName string, newDir uint32, newName string) error {
	fs.lock()
	defer fs.mu.Unlock()
	if err := fs.checkWritable(); err != nil {
		return err
	}
	if err := validName(oldName); err != nil {
		return err
	}
	if err := validName(newName); err != nil {
		return err
	}
	od, err := fs.iget(oldDir)
	if err != nil {
		return err
	}
	nd, err := fs.iget(newDir)
	if err != nil {
		return err
	}
	if !od.isDir() || !nd.isDir() {
		return syscall.ENOTDIR
	}
	srcIno, err := fs.dirLookup(od, oldName)
	if err != nil {
		return err
	}
	src, err := fs.iget(srcIno)
	if err != nil {
		return err
	}
	if src.isDir() && oldDir != newDir {
		// Refuse to move a directory below itself: walk up from newDir.
		for cur := newDir; cur != RootIno; {
			if cur == srcIno {
				return syscall.EINVAL
			}
			c, err := fs.iget(cur)
			if err != nil {
				return err
			}
			if cur, err = fs.dirLookup(c, ".."); err != nil {
				return err
			}
		}
	}
	dstIno, err := fs.dirLookup(nd, newName)
	switch {
	case err == syscall.ENOENT:
		dstIno = 0
	case err != nil:
		return err
	case dstIno == srcIno:
		return nil // same file: rename(2) does nothing
	}
	var dst *inode
	if dstIno != 0 {
		if dst, err = fs.iget(dstIno); err != nil {
			return err
		}
		if src.isDir() && !dst.isDir() {
			return syscall.ENOTDIR
		}
		if !src.isDir() && dst.isDir() {
			return syscall.EISDIR
		}
		if dst.isDir() {
			if empty, err := fs.dirIsEmpty(dst); err != nil {
				return err
			} else if !empty {
				return syscall.ENOTEMPTY
			}
		}
		if err := fs.dirSetIno(nd, newName, srcIno, ftypeOf(src.mode())); err != nil {
			return err
		}
	} else if err := fs.dirAdd(nd, newName, srcIno, ftypeOf(src.mode())); err != nil {
		return err
	}
	if err := fs.dirRemove(od, oldName); err != nil {
		return err
	}
	if src.isDir() && oldDir != newDir {
		if err := fs.dirSetIno(src, "..", newDir, ftDir); err != nil {
			return err
		}
		fs.decLinks(od)
		if dst == nil {
			fs.incLinks(nd)
		}
	}
	if dst != nil {
		if dst.isDir() {
			if oldDir == newDir || !src.isDir() {
				fs.decLinks(nd) // the replaced directory's ".." goes away
			}
			dst.put16(iLinks, 0)
			if err := fs.releaseOrOrphan(dst); err != nil {
				return err
			}
		} else if err := fs.dropLink(dst); err != nil {
			return err
		}
	}
	src.setTime(fs, iCtime, iCtimeExtra, timeNow())
	if err := fs.writeInode(src); err != nil {
		return err
	}
	if err := fs.touchDir(od); err != nil {
		return err
	}
	if newDir != oldDir {
		if err := fs.touchDir(nd); err != nil {
			return err
		}
	}
	return fs.maybeCommit()
}

// SetAttr changes permission bits, owner and times; nil fields stay.
type SetAttr struct {
	Mode  *uint32 // permission bits (07777)
	UID   *uint32
	GID   *uint32
	Atime *time.Time
	Mtime *time.Time
}

// Setattr applies chmod/chown/utimes changes and updates ctime.
func (fs *FS) Setattr(ino uint32, a SetAttr) error {
	fs.lock()
	defer fs.mu.Unlock()
	if err := fs.checkWritable(); err != nil {
		return err
	}
	in, err := fs.iget(ino)
	if err != nil {
		return err
	}
	if a.Mode != nil {
		in.put16(iMode, in.mode()&S_IFMT|uint16(*a.Mode)&0o7777)
	}
	if a.UID != nil {
		in.put16(iUID, uint16(*a.UID))
		in.put16(iUIDHi, uint16(*a.UID>>16))
	}
	if a.GID != nil {
		in.put16(iGID, uint16(*a.GID))
		in.put16(iGIDHi, uint16(*a.GID>>16))
	}
	if a.Atime != nil {
		in.setTime(fs, iAtime, iAtimeExtra, *a.Atime)
	}
	if a.Mtime != nil {
		in.setTime(fs, iMtime, iMtimeExtra, *a.Mtime)
	}
	in.setTime(fs, iCtime, iCtimeExtra, timeNow())
	if err := fs.writeInode(in); err != nil {
		return err
	}
	return fs.maybeCommit()
}

// StatFS describes capacity, like statfs(2).
type StatFS struct {
	BlockSize   int64
	Blocks      uint64
	FreeBlocks  uint64
	AvailBlocks uint64 // free minus the root reserve
	Inodes      uint64
	FreeInodes  uint64
	NameMax     int
}

// StatFS reports the filesystem's capacity.
func (fs *FS) StatFS() StatFS {
	fs.lock()
	defer fs.mu.Unlock()
	free := fs.sb.freeBlocks()
	// Blocks freed by the running transaction are free to the user too.
	for _, r := range fs.pendingFree {
		free += uint64(r.n)
	}
	res := uint64(fs.sb.u32(sRBlocksCountLo))
	avail := uint64(0)
	if free > res {
		avail = free - res
	}
	return StatFS{BlockSize: int64(fs.blockSize), Blocks: fs.sb.blocksCount(), FreeBlocks: free,
		AvailBlocks: avail, Inodes: uint64(fs.sb.u32(sInodesCount)),
		FreeInodes: uint64(fs.sb.u32(sFreeInodesCount)), NameMax: maxNameLen}
}
