package ext4

import (
	"fmt"
	"syscall"
	"time"

	"github.com/stardust-go/stardust/kernel/fs/jbd2"
)

// Sync commits the running transaction: after it returns, every completed
// operation (and the file data written before it) survives a crash.
func (fs *FS) Sync() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.commit()
}

// CommitIfOlderThan commits the running transaction if it has been open for
// at least d. The owner calls it periodically (Linux commits every 5 s).
func (fs *FS) CommitIfOlderThan(d time.Duration) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.txn) == 0 && len(fs.pendingFree) == 0 {
		return nil
	}
	if time.Since(fs.txnStart) < d {
		return nil
	}
	return fs.commit()
}

// Close commits, empties the journal, clears needs_recovery and marks the
// filesystem clean. The FS must not be used afterwards.
func (fs *FS) Close() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.readOnly || fs.broken != nil {
		return fs.broken
	}
	if err := fs.commit(); err != nil {
		return err
	}
	if fs.journal != nil {
		if err := fs.journal.Close(); err != nil {
			return err
		}
	}
	fs.sb.put32(sFeatureIncompat, fs.sb.incompat()&^incompatRecover)
	fs.sb.put16(sState, fs.sb.u16(sState)|stateValidFS)
	fs.readOnly, fs.roReason = true, "unmounted"
	return fs.writeSuperDirect()
}

// maybeCommit commits early when the running transaction approaches the
// journal's capacity. Callers invoke it only between operations, when the
// metadata is consistent.
func (fs *FS) maybeCommit() error {
	limit := 1 << 30
	if fs.journal != nil {
		limit = fs.journal.Capacity() / 4
	}
	if len(fs.txn) >= limit {
		return fs.commit()
	}
	return nil
}

// txnFull reports whether an operation in progress should stop adding to
// the transaction (used by long writes and truncates, which can commit
// between chunks).
func (fs *FS) txnFull() bool {
	if fs.journal == nil {
		return len(fs.txn) > 4096
	}
	return len(fs.txn) >= fs.journal.Capacity()/2
}

// commit writes the running transaction through the journal.
func (fs *FS) commit() error {
	if fs.broken != nil {
		return fs.broken
	}
	if fs.readOnly {
		return nil
	}
	if len(fs.txn) == 0 && len(fs.pendingFree) == 0 {
		return nil
	}
	if err := fs.doCommit(); err != nil {
		// The in-memory state no longer matches any on-disk state we can
		// describe; stop writing. The journal keeps the disk consistent.
		fs.broken = fmt.Errorf("ext4: commit failed: %w", err)
		fs.Log("%v", fs.broken)
		return syscall.EIO
	}
	return nil
}

func (fs *FS) doCommit() error {
	// Blocks freed by this transaction become free in the bitmaps as part
	// of the same transaction; until now the allocator could not reuse them,
	// so a crash before this commit cannot leave them double-used.
	for _, r := range fs.pendingFree {
		if err := fs.freeBlocksNow(r.start, r.n); err != nil {
			return err
		}
	}
	freed := fs.pendingFree
	fs.pendingFree = nil
	if err := fs.finishGroups(); err != nil {
		return err
	}
	fs.sb.put32(sWtime, uint32(time.Now().Unix()))
	fs.sb.updateChecksum()
	fs.markDirty(fs.sbBuf)

	// Ordered mode: data written by this transaction's operations must be
	// durable before the metadata that points at it commits.
	if err := fs.dev.Flush(); err != nil {
		return err
	}
	if fs.journal != nil {
		blocks := make([]jbd2.Block, len(fs.txn))
		for i, b := range fs.txn {
			blocks[i] = jbd2.Block{Nr: b.nr, Data: b.data}
		}
		if err := fs.journal.Commit(blocks); err != nil {
			return err
		}
	}
	// Checkpoint: the transaction is durable in the log; write it home.
	for _, b := range fs.txn {
		if _, err := fs.dev.WriteAt(b.data, int64(b.nr)*int64(fs.blockSize)); err != nil {
			return err
		}
		b.dirty = false
	}
	fs.txn = fs.txn[:0]
	if err := fs.dev.Flush(); err != nil {
		return err
	}
	if fs.journal != nil {
		if err := fs.journal.Checkpointed(); err != nil {
			return err
		}
	}
	for _, r := range freed {
		for i := uint64(0); i < uint64(r.n); i++ {
			fs.forget(r.start + i)
		}
	}
	return nil
}
