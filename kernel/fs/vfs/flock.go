package vfs

import (
	"sync"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// flock(2) locks belong to open file descriptions and lock whole files:
// any number of shared holders or one exclusive holder. Two descriptions
// of the same file conflict even within one process, which is what
// bbolt and friends rely on to detect a second opener.
//
// POSIX record locks (fcntl F_SETLK) are different: they belong to the
// process, and a process never conflicts with itself. A unikernel runs one
// process, so the system-call layer can grant every F_SETLK/F_SETLKW and
// answer F_GETLK with F_UNLCK, which is exactly Linux's behaviour for a
// single process; no table is needed for them.

// flock operations, Linux values.
const (
	LOCK_SH = 1
	LOCK_EX = 2
	LOCK_NB = 4
	LOCK_UN = 8
)

type fileKey struct {
	dev, ino uint64
}

// flockState is the lock of one file.
type flockState struct {
	shared    map[any]bool // holders of shared locks
	exclusive any          // holder of the exclusive lock, or nil
}

// flockTable is shared by all descriptions of one VFS.
type flockTable struct {
	mu    sync.Mutex
	cond  sync.Cond
	files map[fileKey]*flockState
}

func (v *VFS) flocks() *flockTable {
	if t := v.flockTab.Load(); t != nil {
		return t
	}
	t := &flockTable{files: map[fileKey]*flockState{}}
	t.cond.L = &t.mu
	v.flockTab.CompareAndSwap(nil, t)
	return v.flockTab.Load()
}

// lock applies how for owner on the file key.
func (t *flockTable) lock(key fileKey, owner any, how int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.files[key]
	if st == nil {
		st = &flockState{shared: map[any]bool{}}
		t.files[key] = st
	}
	op := how &^ LOCK_NB
	// Converting a lock releases the old one first, as Linux does (the
	// conversion is not atomic).
	if st.exclusive == owner || st.shared[owner] {
		t.release(key, st, owner)
	}
	if op == LOCK_UN {
		return nil
	}
	for {
		conflict := st.exclusive != nil || (op == LOCK_EX && len(st.shared) > 0)
		if !conflict {
			break
		}
		if how&LOCK_NB != 0 {
			return syscall.EWOULDBLOCK
		}
		t.cond.Wait()
		// The state may have been dropped and recreated while waiting.
		if cur := t.files[key]; cur != nil {
			st = cur
		} else {
			st = &flockState{shared: map[any]bool{}}
			t.files[key] = st
		}
	}
	if op == LOCK_EX {
		st.exclusive = owner
	} else {
		st.shared[owner] = true
	}
	return nil
}

// release drops owner's lock; t.mu held.
func (t *flockTable) release(key fileKey, st *flockState, owner any) {
	if st.exclusive == owner {
		st.exclusive = nil
	}
	delete(st.shared, owner)
	if st.exclusive == nil && len(st.shared) == 0 {
		delete(t.files, key)
	}
	t.cond.Broadcast()
}

// unlockAll is called when a description closes.
func (t *flockTable) unlockAll(key fileKey, owner any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.files[key]; st != nil {
		t.release(key, st, owner)
	}
}

// flockDentry implements Flock for a description at d owned by owner.
func (v *VFS) flockDentry(d *Dentry, owner any, how int) error {
	op := how &^ LOCK_NB
	if op != LOCK_SH && op != LOCK_EX && op != LOCK_UN {
		return syscall.EINVAL
	}
	a, err := d.node.Attr()
	if err != nil {
		return err
	}
	return v.flocks().lock(fileKey{d.mnt.dev, a.Ino}, owner, how)
}

// releaseFlock drops any flock held by owner on d's file.
func (v *VFS) releaseFlock(d *Dentry, owner any) {
	if v.flockTab.Load() == nil {
		return // nobody ever locked anything
	}
	if a, err := d.node.Attr(); err == nil {
		v.flocks().unlockAll(fileKey{d.mnt.dev, a.Ino}, owner)
	}
}

var (
	_ fdesc.Flocker = (*fileDesc)(nil)
	_ fdesc.Flocker = (*dirDesc)(nil)
	_ fdesc.Pather  = (*fileDesc)(nil)
	_ fdesc.Pather  = (*dirDesc)(nil)
)

func (f *fileDesc) Flock(how int) error { return f.v.flockDentry(f.d, f, how) }
func (d *dirDesc) Flock(how int) error  { return d.v.flockDentry(d.d, d, how) }
func (f *fileDesc) Path() string        { return f.d.Path() }
func (d *dirDesc) Path() string         { return d.d.Path() }
