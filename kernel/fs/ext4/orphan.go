package ext4

// Open-but-unlinked files. POSIX lets a program keep using a file after
// its last name is gone; the VFS pins an inode while any descriptor has it
// open. When the last link of a pinned inode goes, the inode joins the
// on-disk orphan list instead of being freed: s_last_orphan names the first
// orphan and each orphan's i_dtime field names the next (Linux's classic
// orphan list, which e2fsck and Linux also process). Unpin frees it; after
// a crash, the next read-write mount frees every inode left on the list.

// Pin notes that the VFS holds ino open, keeping it alive when unlinked.
func (fs *FS) Pin(ino uint32) {
	fs.lock()
	defer fs.mu.Unlock()
	if fs.pins == nil {
		fs.pins = map[uint32]int{}
	}
	fs.pins[ino]++
}

// Unpin drops a Pin; the last Unpin of an unlinked inode frees it.
func (fs *FS) Unpin(ino uint32) error {
	fs.lock()
	defer fs.mu.Unlock()
	if fs.pins[ino] <= 1 {
		delete(fs.pins, ino)
	} else {
		fs.pins[ino]--
		return nil
	}
	if fs.readOnly || fs.broken != nil {
		return nil
	}
	in, err := fs.iget(ino)
	if err != nil || in.links() != 0 {
		return err
	}
	if err := fs.orphanRemove(in); err != nil {
		return err
	}
	if err := fs.release(in); err != nil {
		return err
	}
	return fs.maybeCommit()
}

// releaseOrOrphan frees an inode whose last link just went, or parks it on
// the orphan list while it is pinned.
func (fs *FS) releaseOrOrphan(in *inode) error {
	if fs.pins[in.ino] == 0 {
		return fs.release(in)
	}
	in.put32(iDtime, fs.sb.u32(sLastOrphan))
	fs.sb.put32(sLastOrphan, in.ino)
	return fs.writeInode(in)
}

// orphanRemove unlinks in from the orphan list.
func (fs *FS) orphanRemove(in *inode) error {
	next := in.u32(iDtime)
	if fs.sb.u32(sLastOrphan) == in.ino {
		fs.sb.put32(sLastOrphan, next)
		return nil
	}
	for cur, n := fs.sb.u32(sLastOrphan), 0; cur != 0 && n < 1<<20; n++ {
		c, err := fs.iget(cur)
		if err != nil {
			return err
		}
		if c.u32(iDtime) == in.ino {
			c.put32(iDtime, next)
			return fs.writeInode(c)
		}
		cur = c.u32(iDtime)
	}
	return nil
}

// processOrphans frees the inodes a crash left on the orphan list.
func (fs *FS) processOrphans() error {
	n := 0
	for ino := fs.sb.u32(sLastOrphan); ino != 0 && n < 1<<20; n++ {
		in, err := fs.iget(ino)
		if err != nil {
			return err
		}
		next := in.u32(iDtime)
		fs.sb.put32(sLastOrphan, next)
		if in.links() == 0 {
			if err := fs.release(in); err != nil {
				return err
			}
		} else {
			in.put32(iDtime, 0)
			if err := fs.writeInode(in); err != nil {
				return err
			}
		}
		ino = next
	}
	if n > 0 {
		fs.Log("ext4: freed %d orphaned inodes", n)
		return fs.commit()
	}
	return nil
}
