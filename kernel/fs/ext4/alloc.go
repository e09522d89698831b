package ext4

import "syscall"

// allocBlocks allocates up to want contiguous blocks, preferring to start
// at goal (usually the block after the file's previous one, so files stay
// contiguous). It returns the first block and how many it got (>= 1).
// Blocks freed by the running transaction are still marked in the bitmaps
// (see commit), so they are never handed out before the free commits.
func (fs *FS) allocBlocks(goal uint64, want uint32) (uint64, uint32, error) {
	if want == 0 {
		want = 1
	}
	if goal < uint64(fs.firstData) || goal >= fs.sb.blocksCount() {
		goal = uint64(fs.firstData)
	}
	g0 := uint32((goal - uint64(fs.firstData)) / uint64(fs.bpg))
	// Visit the goal group from the goal, every other group, then the goal
	// group again from its start.
	for i := uint32(0); i <= fs.groups; i++ {
		g := (g0 + i) % fs.groups
		from := uint32(0)
		if i == 0 {
			from = uint32(goal - fs.groupFirstBlock(g))
		}
		d, err := fs.gd(g)
		if err != nil {
			return 0, 0, err
		}
		if d.freeBlocks() == 0 {
			continue
		}
		bm, d, err := fs.blockBitmap(g)
		if err != nil {
			return 0, 0, err
		}
		n := fs.groupBlocks(g)
		for bit := from; bit < n; bit++ {
			if testBit(bm.data, bit) {
				continue
			}
			run := uint32(0)
			for bit+run < n && run < want && !testBit(bm.data, bit+run) {
				setBit(bm.data, bit+run)
				run++
			}
			fs.markDirty(bm)
			d.setFreeBlocks(d.freeBlocks() - run)
			fs.touchGroup(g, d)
			fs.sb.setFreeBlocks(fs.sb.freeBlocks() - uint64(run))
			start := fs.groupFirstBlock(g) + uint64(bit)
			for k := uint64(0); k < uint64(run); k++ {
				fs.forget(start + k)
			}
			return start, run, nil
		}
	}
	return 0, 0, syscall.ENOSPC
}

// freeBlocks releases blocks at the next commit.
func (fs *FS) freeBlocks(start uint64, n uint32) {
	if n > 0 {
		fs.pendingFree = append(fs.pendingFree, physRange{start, n})
		if len(fs.txn) == 0 {
			fs.txnStart = timeNow()
		}
	}
}

// freeBlocksNow clears the bitmap bits and updates the free counts.
func (fs *FS) freeBlocksNow(start uint64, n uint32) error {
	for n > 0 {
		g := uint32((start - uint64(fs.firstData)) / uint64(fs.bpg))
		bit := uint32(start - fs.groupFirstBlock(g))
		cnt := min(n, fs.groupBlocks(g)-bit)
		bm, d, err := fs.blockBitmap(g)
		if err != nil {
			return err
		}
		freed := uint32(0)
		for i := uint32(0); i < cnt; i++ {
			if testBit(bm.data, bit+i) {
				clearBit(bm.data, bit+i)
				freed++
			}
		}
		fs.markDirty(bm)
		d.setFreeBlocks(d.freeBlocks() + freed)
		fs.touchGroup(g, d)
		fs.sb.setFreeBlocks(fs.sb.freeBlocks() + uint64(freed))
		start += uint64(cnt)
		n -= cnt
	}
	return nil
}

// allocInode allocates an inode number, preferring the parent's group so
// a directory's files sit near it. The inode table slot is not touched.
func (fs *FS) allocInode(parent uint32, dir bool) (uint32, error) {
	g0 := (parent - 1) / fs.ipg
	if dir {
		// Spread directories: start from the group with the most free
		// inodes among a few candidates after the parent's.
		best, bestFree := g0, uint32(0)
		for i := uint32(0); i < min(fs.groups, 16); i++ {
			g := (g0 + i) % fs.groups
			d, err := fs.gd(g)
			if err != nil {
				return 0, err
			}
			if d.freeInodes() > bestFree {
				best, bestFree = g, d.freeInodes()
			}
		}
		g0 = best
	}
	firstIno := fs.sb.u32(sFirstIno)
	for i := uint32(0); i < fs.groups; i++ {
		g := (g0 + i) % fs.groups
		d, err := fs.gd(g)
		if err != nil {
			return 0, err
		}
		if d.freeInodes() == 0 {
			continue
		}
		bm, d, err := fs.inodeBitmap(g)
		if err != nil {
			return 0, err
		}
		for bit := uint32(0); bit < fs.ipg; bit++ {
			ino := g*fs.ipg + bit + 1
			if testBit(bm.data, bit) || ino < firstIno {
				continue
			}
			setBit(bm.data, bit)
			fs.markDirty(bm)
			d.setFreeInodes(d.freeInodes() - 1)
			if dir {
				d.setUsedDirs(d.usedDirs() + 1)
			}
			// bg_itable_unused counts never-used inodes at the end of the
			// table; e2fsck trusts it, so it must not cover this one.
			if used := fs.ipg - d.itableUnused(); bit >= used {
				d.setItableUnused(fs.ipg - bit - 1)
			}
			fs.touchGroup(g, d)
			fs.sb.put32(sFreeInodesCount, fs.sb.u32(sFreeInodesCount)-1)
			return ino, nil
		}
	}
	return 0, syscall.ENOSPC
}

// freeInode clears an inode's bitmap bit and updates the counts.
func (fs *FS) freeInode(ino uint32, dir bool) error {
	g := (ino - 1) / fs.ipg
	bm, d, err := fs.inodeBitmap(g)
	if err != nil {
		return err
	}
	bit := (ino - 1) % fs.ipg
	if !testBit(bm.data, bit) {
		return nil
	}
	clearBit(bm.data, bit)
	fs.markDirty(bm)
	d.setFreeInodes(d.freeInodes() + 1)
	if dir {
		d.setUsedDirs(d.usedDirs() - 1)
	}
	fs.touchGroup(g, d)
	fs.sb.put32(sFreeInodesCount, fs.sb.u32(sFreeInodesCount)+1)
	delete(fs.inodes, ino)
	return nil
}
