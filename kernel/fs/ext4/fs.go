// Package ext4 is Stardust's ext4 filesystem: it mounts, reads and writes
// the on-disk format that Debian's `mke2fs -t ext4` produces (extents,
// 64bit, flex_bg, metadata_csum, dir_index, has_journal, extra_isize,
// huge_file, dir_nlink, filetype, sparse_super, large_file), with the jbd2
// journal in ordered mode. See docs/ext4.md for the design and its limits.
//
// All metadata changes go into the running transaction: blocks are modified
// in an in-memory buffer cache and marked dirty, and nothing dirty reaches
// its home location before the transaction commits. File data is written
// straight to the device (ordered mode), so a commit is: Flush the data,
// log the dirty metadata with jbd2, Flush, commit block, Flush, write the
// metadata home, Flush, advance the journal.
//
// One mutex serialises every operation; the API is inode-number based, for a
// VFS adapter to wrap. Errors are syscall.Errno values.
//
// Execution context: service context. Every method runs in an ordinary
// goroutine, may block on the device, and is unit-tested on the host.
package ext4

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/stardust-go/stardust/kernel/fs/jbd2"
)

// RootIno is the inode number of the root directory (EXT4_ROOT_INO).
const RootIno = 2

const journalIno = 8 // EXT4_JOURNAL_INO

// buffer is a cached metadata block.
type buffer struct {
	nr    uint64
	data  []byte
	dirty bool // part of the running transaction
}

// FS is a mounted ext4 filesystem.
type FS struct {
	mu  sync.Mutex
	dev BlockDevice

	sbBuf     *buffer // the block holding the primary superblock (pinned)
	sb        superblock
	blockSize int
	groups    uint32
	descSize  int
	inodeSize int
	ipg       uint32 // inodes per group
	bpg       uint32 // blocks per group
	firstData uint32 // s_first_data_block: 1 with 1 KiB blocks, else 0
	csum      bool   // metadata_csum
	csumSeed  uint32
	gdtBlocks []uint64 // block holding each group-descriptor block

	// ReadOnly is set when the volume was mounted read-only, either on
	// request or because of features Stardust cannot write; ROReason says why.
	readOnly bool
	roReason string

	cache       map[uint64]*buffer
	txn         []*buffer // dirty buffers in the running transaction, in order
	dirtyGroups map[uint32]bool
	pendingFree []physRange // blocks freed by this transaction
	txnStart    time.Time
	freedLast   []physRange // freed by the last commit: drop from cache

	inodes  map[uint32]*inode
	pins    map[uint32]int // open counts from the VFS (see orphan.go)
	journal *jbd2.Journal
	broken  error // set after a failed commit: the fs refuses further writes

	// Log receives mount-time messages (read-only reasons, replay counts).
	Log func(format string, args ...any)
}

type physRange struct {
	start uint64
	n     uint32
}

// Options control Mount.
type Options struct {
	ReadOnly bool
	// Log receives informational messages; nil discards them.
	Log func(format string, args ...any)
}

const (
	maxCachedBlocks = 8192
	maxCachedInodes = 4096
)

// Mount reads the superblock and group descriptors, verifies their
// checksums, replays the journal if it holds committed transactions (unless
// read-only) and returns the filesystem.
func Mount(dev BlockDevice, opt Options) (*FS, error) {
	fs := &FS{dev: dev, cache: map[uint64]*buffer{}, inodes: map[uint32]*inode{},
		dirtyGroups: map[uint32]bool{}, readOnly: opt.ReadOnly, Log: opt.Log}
	if fs.Log == nil {
		fs.Log = func(string, ...any) {}
	}
	if opt.ReadOnly {
		fs.roReason = "mounted read-only"
	}
	if err := fs.readSuper(); err != nil {
		return nil, err
	}
	if err := fs.loadGroupDescriptors(); err != nil {
		return nil, err
	}
	if err := fs.openJournal(); err != nil {
		return nil, err
	}
	if !fs.readOnly {
		// Mark the filesystem as in use: with needs_recovery set, e2fsck and
		// Linux know to replay the journal after a crash.
		fs.sb.put32(sFeatureIncompat, fs.sb.incompat()|incompatRecover)
		fs.sb.put16(sMntCount, fs.sb.u16(sMntCount)+1)
		fs.sb.put32(sMtime, uint32(time.Now().Unix()))
		if err := fs.writeSuperDirect(); err != nil {
			return nil, err
		}
		if err := fs.processOrphans(); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// ReadOnly reports whether the mount refuses writes, and why.
func (fs *FS) ReadOnly() (bool, string) { return fs.readOnly, fs.roReason }

// BlockSize returns the filesystem block size in bytes.
func (fs *FS) BlockSize() int { return fs.blockSize }

func (fs *FS) setReadOnly(reason string) {
	if !fs.readOnly {
		fs.Log("ext4: mounting read-only: %s", reason)
	}
	fs.readOnly = true
	if fs.roReason == "" {
		fs.roReason = reason
	}
}

func (fs *FS) readSuper() error {
	// Read the block that contains byte 1024; its size is not known yet, so
	// read 1024 bytes first.
	raw := make([]byte, superSize)
	if _, err := fs.dev.ReadAt(raw, superOffset); err != nil {
		return fmt.Errorf("ext4: reading superblock: %w", err)
	}
	sb := superblock{raw}
	if sb.u16(sMagic) != superMagic {
		return fmt.Errorf("ext4: bad superblock magic %#x: %w", sb.u16(sMagic), syscall.EINVAL)
	}
	logBS := sb.u32(sLogBlockSize)
	if logBS > 6 {
		return fmt.Errorf("ext4: block size 2^(10+%d) unsupported: %w", logBS, syscall.EINVAL)
	}
	fs.blockSize = 1024 << logBS
	if sb.hasROCompat(roCompatMetadataCsum) {
		if sb.b[sChecksumType] != checksumTypeCRC32C {
			return fmt.Errorf("ext4: unknown checksum type %d: %w", sb.b[sChecksumType], syscall.EINVAL)
		}
		if got, want := sb.checksum(), sb.u32(sChecksum); got != want {
			return fmt.Errorf("ext4: superblock checksum %#x, want %#x: %w", got, want, syscall.EUCLEAN)
		}
	}
	sbBlock := uint64(superOffset / fs.blockSize)
	blk := make([]byte, fs.blockSize)
	if _, err := fs.dev.ReadAt(blk, int64(sbBlock)*int64(fs.blockSize)); err != nil {
		return err
	}
	fs.sbBuf = &buffer{nr: sbBlock, data: blk}
	fs.cache[sbBlock] = fs.sbBuf
	off := superOffset % fs.blockSize
	fs.sb = superblock{blk[off : off+superSize]}
	sb = fs.sb

	if inc := sb.incompat() &^ rwIncompat; inc != 0 {
		// Strictly, an unknown INCOMPAT feature forbids mounting at all;
		// Stardust still offers a read-only view (the reader validates
		// every structure it follows) and says why it will not write.
		msg := "unsupported incompatible features " + featureNames(inc)
		if inc&^readIncompat != 0 {
			msg += " (unknown to Stardust: contents may be unreadable)"
		}
		fs.setReadOnly(msg)
	}
	if ro := sb.roCompat() &^ rwROCompat; ro != 0 {
		fs.setReadOnly("unsupported read-only-compatible features " + featureNames(ro))
	}
	if sb.hasROCompat(roCompatGdtCsum) && !sb.hasROCompat(roCompatMetadataCsum) {
		fs.setReadOnly("uninit_bg (crc16 group checksums) is not written by Stardust")
	}
	if sb.u32(sLogClusterSize) != logBS {
		return fmt.Errorf("ext4: bigalloc clusters unsupported: %w", syscall.EINVAL)
	}
	fs.bpg = sb.u32(sBlocksPerGroup)
	fs.ipg = sb.u32(sInodesPerGroup)
	fs.firstData = sb.u32(sFirstDataBlock)
	if fs.bpg == 0 || fs.ipg == 0 || fs.bpg > uint32(fs.blockSize*8) || fs.ipg > uint32(fs.blockSize*8) {
		return fmt.Errorf("ext4: bad group geometry: %w", syscall.EINVAL)
	}
	fs.inodeSize = goodOldInodeSize
	if sb.u32(sRevLevel) >= 1 {
		fs.inodeSize = int(sb.u16(sInodeSize))
	}
	if fs.inodeSize < goodOldInodeSize || fs.inodeSize > fs.blockSize || fs.inodeSize&(fs.inodeSize-1) != 0 {
		return fmt.Errorf("ext4: bad inode size %d: %w", fs.inodeSize, syscall.EINVAL)
	}
	fs.descSize = defaultDescSize
	if sb.hasIncompat(incompat64Bit) {
		fs.descSize = int(sb.u16(sDescSize))
		if fs.descSize < minDescSize64Bit || fs.descSize > 1024 || fs.descSize&(fs.descSize-1) != 0 {
			return fmt.Errorf("ext4: bad descriptor size %d: %w", fs.descSize, syscall.EINVAL)
		}
	}
	total := sb.blocksCount()
	if total <= uint64(fs.firstData) || total*uint64(fs.blockSize) > uint64(fs.dev.Size()) {
		return fmt.Errorf("ext4: filesystem of %d blocks does not fit the %d-byte device: %w", total, fs.dev.Size(), syscall.EINVAL)
	}
	fs.groups = uint32((total - uint64(fs.firstData) + uint64(fs.bpg) - 1) / uint64(fs.bpg))
	if uint64(fs.groups)*uint64(fs.ipg) != uint64(sb.u32(sInodesCount)) {
		return fmt.Errorf("ext4: inode count %d != %d groups * %d: %w", sb.u32(sInodesCount), fs.groups, fs.ipg, syscall.EINVAL)
	}
	fs.csum = sb.hasROCompat(roCompatMetadataCsum)
	if sb.hasIncompat(incompatCsumSeed) {
		fs.csumSeed = sb.u32(sChecksumSeed)
	} else {
		fs.csumSeed = crc32c(^uint32(0), sb.b[sUUID:sUUID+16])
	}
	if sb.u16(sState)&stateErrorFS != 0 {
		fs.setReadOnly("filesystem has errors; run e2fsck")
	}
	return nil
}

// writeSuperDirect writes the superblock straight home and flushes. It is
// used only while the journal is empty (mount, unmount), so it cannot race
// a logged copy of the same block.
func (fs *FS) writeSuperDirect() error {
	fs.sb.put32(sWtime, uint32(time.Now().Unix()))
	fs.sb.updateChecksum()
	if _, err := fs.dev.WriteAt(fs.sbBuf.data, int64(fs.sbBuf.nr)*int64(fs.blockSize)); err != nil {
		return err
	}
	return fs.dev.Flush()
}

func (fs *FS) openJournal() error {
	if fs.sb.compat()&compatHasJournal == 0 {
		return nil
	}
	if fs.sb.hasIncompat(incompatJournalDv) || fs.sb.u32(sJournalInum) == 0 {
		fs.setReadOnly("external journals are not supported")
		return nil
	}
	jin, err := fs.iget(fs.sb.u32(sJournalInum))
	if err != nil {
		return fmt.Errorf("ext4: journal inode: %w", err)
	}
	if err := fs.loadExtents(jin); err != nil {
		return fmt.Errorf("ext4: journal inode extents: %w", err)
	}
	mapBlock := func(l uint64) (uint64, error) {
		p, ok := jin.lookup(uint32(l))
		if !ok {
			return 0, fmt.Errorf("ext4: journal block %d unmapped: %w", l, syscall.EIO)
		}
		return p, nil
	}
	j, err := jbd2.Open(fs.dev, fs.blockSize, jin.size()/uint64(fs.blockSize), mapBlock)
	if err != nil {
		if errors.Is(err, jbd2.ErrUnsupported) {
			fs.setReadOnly(err.Error())
			return nil
		}
		return err
	}
	fs.journal = j
	if j.NeedsRecovery() || fs.sb.hasIncompat(incompatRecover) {
		if fs.readOnly {
			if j.NeedsRecovery() {
				fs.Log("ext4: journal needs recovery but the mount is read-only; reading unreplayed state")
			}
			return nil
		}
		st, err := j.Recover()
		if err != nil {
			return fmt.Errorf("ext4: journal recovery: %w", err)
		}
		if st.Transactions > 0 {
			fs.Log("ext4: journal recovery: %d transactions, %d blocks replayed, %d revoked, %d bad checksums",
				st.Transactions, st.Replayed, st.Revoked, st.BadChecksum)
		}
		// Replay rewrote metadata under us: reload the superblock and
		// descriptors from disk.
		fs.cache = map[uint64]*buffer{}
		fs.inodes = map[uint32]*inode{}
		ro, reason := fs.readOnly, fs.roReason
		if err := fs.readSuper(); err != nil {
			return err
		}
		fs.readOnly, fs.roReason = ro, reason
		fs.sb.put32(sFeatureIncompat, fs.sb.incompat()&^incompatRecover)
		if err := fs.loadGroupDescriptors(); err != nil {
			return err
		}
	}
	if fs.readOnly {
		return nil
	}
	if err := j.Start(fs.csum, fs.sb.hasIncompat(incompat64Bit)); err != nil {
		return err
	}
	return nil
}

// ---- buffer cache ----

// bread returns the cached metadata block nr, reading it on a miss.
func (fs *FS) bread(nr uint64) (*buffer, error) {
	if b, ok := fs.cache[nr]; ok {
		return b, nil
	}
	if nr >= fs.sb.blocksCount() {
		return nil, fmt.Errorf("ext4: block %d beyond end of filesystem: %w", nr, syscall.EUCLEAN)
	}
	b := &buffer{nr: nr, data: make([]byte, fs.blockSize)}
	if _, err := fs.dev.ReadAt(b.data, int64(nr)*int64(fs.blockSize)); err != nil {
		return nil, syscall.EIO
	}
	fs.cache[nr] = b
	return b, nil
}

// bnew returns a zeroed buffer for a freshly allocated metadata block,
// without reading the stale disk contents.
func (fs *FS) bnew(nr uint64) *buffer {
	if b, ok := fs.cache[nr]; ok {
		clear(b.data)
		return b
	}
	b := &buffer{nr: nr, data: make([]byte, fs.blockSize)}
	fs.cache[nr] = b
	return b
}

// markDirty adds b to the running transaction.
func (fs *FS) markDirty(b *buffer) {
	if !b.dirty {
		b.dirty = true
		fs.txn = append(fs.txn, b)
		if len(fs.txn) == 1 {
			fs.txnStart = time.Now()
		}
	}
}

// forget drops a block from the cache (it became file data or was freed).
func (fs *FS) forget(nr uint64) {
	if b, ok := fs.cache[nr]; ok && !b.dirty && b != fs.sbBuf {
		delete(fs.cache, nr)
	}
}

// lock takes the filesystem lock and, at this operation boundary (never in
// the middle of one, where callers hold buffers and inodes), bounds the
// caches by dropping clean blocks and inodes when they grow too big.
func (fs *FS) lock() {
	fs.mu.Lock()
	if len(fs.cache) >= maxCachedBlocks {
		for nr, b := range fs.cache {
			if !b.dirty && b != fs.sbBuf {
				delete(fs.cache, nr)
			}
		}
	}
	if len(fs.inodes) >= maxCachedInodes {
		for ino := range fs.inodes {
			if ino != journalIno {
				delete(fs.inodes, ino)
			}
		}
	}
}

// checkWritable is the guard at the top of every mutating operation.
func (fs *FS) checkWritable() error {
	if fs.readOnly {
		return syscall.EROFS
	}
	if fs.broken != nil {
		return syscall.EIO
	}
	return nil
}
