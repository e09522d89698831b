package ext4

import (
	"os"
	"sync"
	"syscall"
)

// BlockDevice is the storage ext4 lives on: a byte-addressed disk of fixed
// size. Writes may be cached by the device until Flush returns (virtio-blk's
// FLUSH, fsync of a host file); the journal's crash safety rests on Flush
// being a barrier.
type BlockDevice interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Flush() error
	Size() int64
}

// FileDevice is a BlockDevice backed by a host file (disk images in tests
// and host tools).
type FileDevice struct {
	f    *os.File
	size int64
}

// OpenFile opens a disk image. With readOnly, writes fail with EROFS.
func OpenFile(path string, readOnly bool) (*FileDevice, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &FileDevice{f: f, size: st.Size()}, nil
}

func (d *FileDevice) ReadAt(p []byte, off int64) (int, error)  { return d.f.ReadAt(p, off) }
func (d *FileDevice) WriteAt(p []byte, off int64) (int, error) { return d.f.WriteAt(p, off) }
func (d *FileDevice) Flush() error                             { return d.f.Sync() }
func (d *FileDevice) Size() int64                              { return d.size }
func (d *FileDevice) Close() error                             { return d.f.Close() }

// MemDevice is a BlockDevice in memory. Its Flush is a no-op; tests wrap it
// in a CrashDevice to model lost writes.
type MemDevice struct {
	mu   sync.Mutex
	Data []byte
}

func (d *MemDevice) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(d.Data)) {
		return 0, syscall.EIO
	}
	return copy(p, d.Data[off:]), nil
}

func (d *MemDevice) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(d.Data)) {
		return 0, syscall.EIO
	}
	return copy(d.Data[off:], p), nil
}

func (d *MemDevice) Flush() error { return nil }
func (d *MemDevice) Size() int64  { return int64(len(d.Data)) }

// CrashDevice wraps a device and silently drops every write after the
// first Limit writes, as if the machine lost power at that point: the
// filesystem keeps running against a disk that no longer changes. A
// negative Limit never drops. Reads see what reached the disk, which is
// what a disk with no volatile cache would show after the crash.
type CrashDevice struct {
	BlockDevice
	mu     sync.Mutex
	Limit  int
	Writes int
}

func (d *CrashDevice) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	drop := d.Limit >= 0 && d.Writes >= d.Limit
	d.Writes++
	d.mu.Unlock()
	if drop {
		return len(p), nil
	}
	return d.BlockDevice.WriteAt(p, off)
}

// Crashed reports whether writes have started being dropped.
func (d *CrashDevice) Crashed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Limit >= 0 && d.Writes > d.Limit
}
