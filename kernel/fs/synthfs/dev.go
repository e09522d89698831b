package synthfs

import (
	"io"
	"sync"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// NewDev returns a /dev with the memory devices Go programs use: null,
// zero, full, random and urandom (both read rand, which must be a
// cryptographically secure source; reads are serialized so it need not
// be safe for concurrent use). Device numbers are Linux's (major 1).
func NewDev(rand io.Reader) *Tree {
	t := New(TmpfsMagic)
	root := t.RootDir()
	root.attrs.Mode = syscall.S_IFDIR | 0o755
	var mu sync.Mutex
	lockedRand := readerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return io.ReadFull(rand, p)
	})
	for _, d := range []struct {
		name  string
		minor uint32
		kind  memKind
	}{
		{"null", 3, devNull}, {"zero", 5, devZero}, {"full", 7, devFull},
		{"random", 8, devRandom}, {"urandom", 9, devRandom},
	} {
		kind := d.kind
		t.Device(root, d.name, syscall.S_IFCHR|0o666, vfs.Mkdev(1, d.minor), func(flags int, a vfs.Attr) (fdesc.Description, error) {
			return &memDev{kind: kind, attrs: a, rand: lockedRand, flags: vfs.StatusFlags(flags)}, nil
		})
	}
	t.Dir(root, "shm")
	return t
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

type memKind int

const (
	devNull memKind = iota
	devZero
	devFull
	devRandom
)

// memDev is an open memory device. It is always ready and never blocks.
type memDev struct {
	kind  memKind
	attrs vfs.Attr
	rand  io.Reader

	mu    sync.Mutex
	flags int
}

var (
	_ fdesc.Description = (*memDev)(nil)
	_ fdesc.Positional  = (*memDev)(nil)
	_ fdesc.Pollable    = (*memDev)(nil)
)

func (m *memDev) access() int { return m.Flags() & syscall.O_ACCMODE }

func (m *memDev) Read(p []byte) (int, error) {
	if m.access() == syscall.O_WRONLY {
		return 0, syscall.EBADF
	}
	switch m.kind {
	case devNull:
		return 0, nil // end of file, always
	case devRandom:
		if _, err := m.rand.Read(p); err != nil {
			return 0, syscall.EIO
		}
		return len(p), nil
	default: // zero, full
		clear(p)
		return len(p), nil
	}
}

func (m *memDev) Write(p []byte) (int, error) {
	if m.access() == syscall.O_RDONLY {
		return 0, syscall.EBADF
	}
	if m.kind == devFull {
		return 0, syscall.ENOSPC
	}
	return len(p), nil // null and zero swallow writes; random accepts (and ignores) entropy
}

func (m *memDev) ReadAt(p []byte, off int64) (int, error)  { return m.Read(p) }
func (m *memDev) WriteAt(p []byte, off int64) (int, error) { return m.Write(p) }

// Seek succeeds and reports offset 0, as Linux's memory devices do.
func (m *memDev) Seek(off int64, whence int) (int64, error) { return 0, nil }

func (m *memDev) Close() error { return nil }

func (m *memDev) Stat(st *syscall.Stat_t) error {
	vfs.FillStat(st, m.attrs, 6) // devtmpfs's anonymous device
	return nil
}

func (m *memDev) Flags() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flags
}

func (m *memDev) SetFlags(flags int) error {
	m.mu.Lock()
	m.flags = m.flags&^vfs.SettableFlags | flags&vfs.SettableFlags
	m.mu.Unlock()
	return nil
}

func (m *memDev) Readiness() uint32            { return fdesc.PollIn | fdesc.PollOut }
func (m *memDev) Watch(func()) (cancel func()) { return func() {} }
