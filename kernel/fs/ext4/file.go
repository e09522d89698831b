package ext4

import "syscall"

// maxChunkBlocks bounds how many blocks one step of a write or read moves,
// so a huge write does not need a huge buffer.
const maxChunkBlocks = 256

// ReadAt reads file data at off. It returns the bytes read, which is short
// only at end of file (0 at or past it). Holes and unwritten extents read
// as zeros. Access times are not updated (Stardust mounts are noatime).
func (fs *FS) ReadAt(ino uint32, p []byte, off int64) (int, error) {
	fs.lock()
	defer fs.mu.Unlock()
	in, err := fs.iget(ino)
	if err != nil {
		return 0, err
	}
	if in.isDir() {
		return 0, syscall.EISDIR
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	return fs.readData(in, p, off)
}

func (fs *FS) readData(in *inode, p []byte, off int64) (int, error) {
	size := int64(in.size())
	if off >= size {
		return 0, nil
	}
	if int64(len(p)) > size-off {
		p = p[:size-off]
	}
	if err := fs.loadExtents(in); err != nil {
		return 0, err
	}
	bs := int64(fs.blockSize)
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		lblk := uint32(pos / bs)
		boff := pos % bs
		pblk, uninit, run := in.mapRun(lblk)
		n := int64(len(p) - done)
		if avail := int64(min(run, maxChunkBlocks))*bs - boff; n > avail {
			n = avail
		}
		chunk := p[done : done+int(n)]
		if pblk == 0 || uninit {
			clear(chunk)
		} else if _, err := fs.dev.ReadAt(chunk, int64(pblk)*bs+boff); err != nil {
			return done, syscall.EIO
		}
		done += int(n)
	}
	return done, nil
}

// WriteAt writes file data at off, allocating blocks (as extents, growing
// the extent tree as needed) for holes, and extends the size. Data goes
// straight to the device; the metadata pointing at it commits with the next
// transaction, after a Flush (ordered mode).
func (fs *FS) WriteAt(ino uint32, p []byte, off int64) (int, error) {
	fs.lock()
	defer fs.mu.Unlock()
	if err := fs.checkWritable(); err != nil {
		return 0, err
	}
	in, err := fs.iget(ino)
	if err != nil {
		return 0, err
	}
	if in.isDir() {
		return 0, syscall.EISDIR
	}
	if !in.isReg() {
		return 0, syscall.EINVAL
	}
	n, err := fs.writeData(in, p, off)
	if n > 0 {
		now := timeNow()
		in.setTime(fs, iMtime, iMtimeExtra, now)
		in.setTime(fs, iCtime, iCtimeExtra, now)
		if werr := fs.writeInode(in); err == nil {
			err = werr
		}
	}
	if err == nil {
		err = fs.maybeCommit()
	}
	return n, err
}

// maxFileBlocks: extents address 2^32 logical blocks.
const maxFileBlocks = 1 << 32

func (fs *FS) writeData(in *inode, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	bs := int64(fs.blockSize)
	if off+int64(len(p)) > maxFileBlocks*bs-bs {
		return 0, syscall.EFBIG
	}
	if err := fs.loadExtents(in); err != nil {
		return 0, err
	}
	mapChanged := false
	done := 0
	finish := func() error {
		if end := uint64(off) + uint64(done); end > in.size() {
			in.setSize(end)
			if end > 1<<31-1 && !fs.sb.hasROCompat(roCompatLargeFile) {
				fs.sb.put32(sFeatureROCompat, fs.sb.roCompat()|roCompatLargeFile)
			}
		}
		if mapChanged {
			if err := fs.saveExtents(in); err != nil {
				return err
			}
			mapChanged = false
		}
		fs.syncBlocks(in)
		return fs.writeInode(in)
	}
	for done < len(p) {
		pos := off + int64(done)
		lblk := uint32(pos / bs)
		boff := pos % bs
		pblk, uninit, run := in.mapRun(lblk)
		// Blocks this step touches.
		span := uint32((boff + int64(len(p)-done) + bs - 1) / bs)
		k := min(run, span, maxChunkBlocks)
		if pblk != 0 && !uninit {
			n := min(int64(k)*bs-boff, int64(len(p)-done))
			if _, err := fs.dev.WriteAt(p[done:done+int(n)], int64(pblk)*bs+boff); err != nil {
				return done, syscall.EIO
			}
			done += int(n)
			continue
		}
		if pblk == 0 {
			// A hole: allocate, preferring the block after the previous one.
			goal := fs.goalFor(in, lblk)
			start, got, err := fs.allocBlocks(goal, k)
			if err != nil {
				if ferr := finish(); ferr != nil {
					return done, ferr
				}
				return done, err
			}
			pblk, k = start, got
		}
		// Fresh (or unwritten) blocks: write whole blocks so the parts
		// outside p read back as zeros.
		buf := make([]byte, int64(k)*bs)
		n := copy(buf[boff:], p[done:])
		if _, err := fs.dev.WriteAt(buf, int64(pblk)*bs); err != nil {
			return done, syscall.EIO
		}
		in.setMapping(lblk, pblk, k, false)
		mapChanged = true
		done += n
		if fs.txnFull() {
			if err := finish(); err != nil {
				return done, err
			}
			if err := fs.commit(); err != nil {
				return done, err
			}
		}
	}
	return done, finish()
}

// goalFor picks where a file's block lblk should go: right after the
// physical block of lblk-1 or of the nearest earlier extent, else the start
// of the inode's group.
func (fs *FS) goalFor(in *inode, lblk uint32) uint64 {
	for i := len(in.ext) - 1; i >= 0; i-- {
		e := in.ext[i]
		if e.lblk < lblk {
			return e.pblk + uint64(min(lblk, e.end())-e.lblk)
		}
	}
	d, err := fs.gd((in.ino - 1) / fs.ipg)
	if err != nil {
		return 0
	}
	return d.inodeTable()
}

// Truncate sets a regular file's size, freeing blocks past the new end and
// zeroing the rest of its last block so a later extension reads zeros.
func (fs *FS) Truncate(ino uint32, size int64) error {
	fs.lock()
	defer fs.mu.Unlock()
	if err := fs.checkWritable(); err != nil {
		return err
	}
	in, err := fs.iget(ino)
	if err != nil {
		return err
	}
	if in.isDir() {
		return syscall.EISDIR
	}
	if !in.isReg() {
		return syscall.EINVAL
	}
	bs := int64(fs.blockSize)
	if size < 0 {
		return syscall.EINVAL
	}
	if size >= maxFileBlocks*bs-bs {
		return syscall.EFBIG
	}
	if err := fs.truncate(in, uint64(size)); err != nil {
		return err
	}
	now := timeNow()
	in.setTime(fs, iMtime, iMtimeExtra, now)
	in.setTime(fs, iCtime, iCtimeExtra, now)
	if err := fs.writeInode(in); err != nil {
		return err
	}
	return fs.maybeCommit()
}

func (fs *FS) truncate(in *inode, size uint64) error {
	if err := fs.loadExtents(in); err != nil {
		return err
	}
	bs := uint64(fs.blockSize)
	if size < in.size() {
		keep := uint32((size + bs - 1) / bs)
		for _, r := range in.unmap(keep, maxFileBlocks-1-keep) {
			fs.freeBlocks(r.start, r.n)
		}
		if rem := size % bs; rem != 0 {
			if p, uninit, _ := in.mapRun(uint32(size / bs)); p != 0 && !uninit {
				zero := make([]byte, bs-rem)
				if _, err := fs.dev.WriteAt(zero, int64(p*bs+rem)); err != nil {
					return syscall.EIO
				}
			}
		}
		if err := fs.saveExtents(in); err != nil {
			return err
		}
	}
	in.setSize(size)
	fs.syncBlocks(in)
	return fs.writeInode(in)
}
