// Package fdesc defines the open file description: the object a Linux file
// descriptor refers to, whether it is a file, a directory, a pipe, an eventfd
// or a socket. The system-call layer keeps a table of descriptors per process
// and calls these methods; the VFS, the socket layer and the device files
// implement them.
//
// Execution context: service context. Every method runs in an ordinary
// goroutine (never in trap context), may allocate and may block, and is
// unit-tested on the host with plain `go test`.
//
// Errors are syscall.Errno values (the Linux amd64 numbering, which is the
// guest ABI) or nil; the system-call layer returns -errno to the program.
package fdesc

import "syscall"

// Readiness bits, the same values as Linux's EPOLLIN, EPOLLOUT, ... so that
// epoll can pass them through unchanged.
const (
	PollIn    uint32 = 0x001
	PollPri   uint32 = 0x002
	PollOut   uint32 = 0x004
	PollErr   uint32 = 0x008
	PollHup   uint32 = 0x010
	PollRdHup uint32 = 0x2000
)

// Description is an open file description (Linux's struct file).
// Methods a kind of file does not support return the errno Linux returns
// for it (for example EINVAL for Seek on a pipe is ESPIPE, Read on a
// directory is EISDIR).
type Description interface {
	// Read reads at the current offset (or from the stream) into p.
	// A non-blocking description returns EAGAIN instead of blocking.
	Read(p []byte) (int, error)
	// Write writes p at the current offset (or to the stream).
	Write(p []byte) (int, error)
	// Close releases the description; it is called once, when the last
	// file descriptor that refers to it is closed.
	Close() error
	// Stat fills st as fstat(2) does.
	Stat(st *syscall.Stat_t) error
	// Flags returns the status flags (O_NONBLOCK, O_APPEND, O_RDWR, ...)
	// that fcntl(F_GETFL) reports; SetFlags changes the ones F_SETFL may.
	Flags() int
	SetFlags(flags int) error
}

// Pollable is implemented by descriptions epoll can watch (sockets, pipes,
// eventfds). Regular files are not Pollable: epoll_ctl on them is EPERM.
type Pollable interface {
	// Readiness returns the readiness bits (PollIn, ...) that hold now.
	Readiness() uint32
	// Watch registers fn to be called, from any goroutine, whenever the
	// readiness may have changed. fn must not block. The returned function
	// removes the registration.
	Watch(fn func()) (cancel func())
}

// Positional is implemented by descriptions with random access (pread64,
// pwrite64, lseek).
type Positional interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Seek(off int64, whence int) (int64, error)
}

// Directory is implemented by open directories (getdents64).
// ReadDirents appends linux_dirent64 records to buf until it is full and
// returns the number of bytes written; 0 means the end of the directory.
type Directory interface {
	ReadDirents(buf []byte) (int, error)
}

// Syncer is implemented by descriptions whose data can be made durable
// (fsync, fdatasync).
type Syncer interface {
	Sync(dataOnly bool) error
}

// Truncater is implemented by descriptions that can change size (ftruncate).
type Truncater interface {
	Truncate(size int64) error
}
