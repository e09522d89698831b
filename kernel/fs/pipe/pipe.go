// Package pipe implements pipe2(2): a 64 KiB in-memory byte stream with a
// read end and a write end, blocking or non-blocking (EAGAIN), with
// epoll readiness.
//
// Execution context: service context. Blocking reads and writes park the
// calling goroutine until the pipe changes or, for ReadIntr/WriteIntr,
// until a signal arrives; readiness callbacks are made without holding the
// pipe's lock. Unit-tested on the host.
package pipe

import (
	"sync"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

const (
	// Capacity is Linux's default pipe size (16 pages).
	Capacity = 65536
	// PipeBuf is PIPE_BUF: writes of at most this many bytes are atomic,
	// never interleaved with other writers' data.
	PipeBuf = 4096
)

// pipe is the shared state of both ends.
type pipe struct {
	mu       sync.Mutex
	changed  chan struct{} // closed (and replaced) on every change of data, readers or writers
	buf      [Capacity]byte
	start, n int // ring buffer: n bytes from start
	readers  int
	writers  int
	ino      uint64
	watchers map[int]func()
	nextW    int
}

var (
	inoMu   sync.Mutex
	nextIno uint64
)

// Dev is the st_dev reported for pipes (Linux's pipefs is anonymous too).
var Dev = uint64(12)

// New returns the read and write ends of a new pipe. flags are pipe2's:
// O_NONBLOCK applies to both ends; O_CLOEXEC belongs to the descriptors
// and is the caller's business; O_DIRECT (packet mode) is EINVAL here.
func New(flags int) (r, w fdesc.Description, err error) {
	if flags&^(syscall.O_NONBLOCK|syscall.O_CLOEXEC) != 0 {
		return nil, nil, syscall.EINVAL
	}
	inoMu.Lock()
	nextIno++
	ino := nextIno
	inoMu.Unlock()
	p := &pipe{readers: 1, writers: 1, ino: ino, watchers: map[int]func(){}}
	p.changed = make(chan struct{})
	nb := flags & syscall.O_NONBLOCK
	return &end{p: p, flags: syscall.O_RDONLY | nb}, &end{p: p, write: true, flags: syscall.O_WRONLY | nb}, nil
}

// changed wakes blocked callers and returns the watchers to notify once
// the lock is released. Called with p.mu held.
func (p *pipe) wake() []func() {
	close(p.changed)
	p.changed = make(chan struct{})
	fns := make([]func(), 0, len(p.watchers))
	for _, fn := range p.watchers {
		fns = append(fns, fn)
	}
	return fns
}

func notify(fns []func()) {
	for _, fn := range fns {
		fn()
	}
}

// end is one end of a pipe: an open file description.
type end struct {
	p      *pipe
	write  bool
	mu     sync.Mutex // guards flags and closed
	flags  int
	closed bool
}

var (
	_ fdesc.Description   = (*end)(nil)
	_ fdesc.Pollable      = (*end)(nil)
	_ fdesc.Availabler    = (*end)(nil)
	_ fdesc.Interruptible = (*end)(nil)
)

func (e *end) nonblock() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flags&syscall.O_NONBLOCK != 0
}

// wait releases the lock until the pipe changes or intr fires; it
// reports whether it was interrupted. Called with p.mu held; returns with
// it held.
func (p *pipe) wait(intr <-chan struct{}) (interrupted bool) {
	ch := p.changed
	p.mu.Unlock()
	select {
	case <-ch:
	case <-intr:
		interrupted = true
	}
	p.mu.Lock()
	return interrupted
}

// Read blocks until data is available or every writer has closed (then
// it returns 0, end of file). It cannot be interrupted; see ReadIntr.
func (e *end) Read(b []byte) (int, error) { return e.ReadIntr(b, nil) }

// ReadIntr is Read that gives up with EINTR when intr fires (a signal for
// the calling thread) while it waits. A nil intr never fires.
func (e *end) ReadIntr(b []byte, intr <-chan struct{}) (int, error) {
	if e.write {
		return 0, syscall.EBADF
	}
	if len(b) == 0 {
		return 0, nil
	}
	p := e.p
	p.mu.Lock()
	for p.n == 0 {
		if p.writers == 0 {
			p.mu.Unlock()
			return 0, nil
		}
		if e.nonblock() {
			p.mu.Unlock()
			return 0, syscall.EAGAIN
		}
		if p.wait(intr) {
			p.mu.Unlock()
			return 0, syscall.EINTR
		}
	}
	done := 0
	for done < len(b) && p.n > 0 {
		chunk := min(p.n, Capacity-p.start, len(b)-done)
		copy(b[done:], p.buf[p.start:p.start+chunk])
		p.start = (p.start + chunk) % Capacity
		p.n -= chunk
		done += chunk
	}
	if p.n == 0 {
		p.start = 0
	}
	fns := p.wake()
	p.mu.Unlock()
	notify(fns)
	return done, nil
}

// Write blocks until all of b is written. A write of at most PipeBuf bytes
// goes in one piece; a larger one may be split and interleaved. With no
// reader left it fails with EPIPE (the system-call layer raises SIGPIPE).
// Non-blocking, it writes what fits and returns EAGAIN if nothing did.
func (e *end) Write(b []byte) (int, error) { return e.WriteIntr(b, nil) }

// WriteIntr is Write that stops when intr fires while it waits: it returns
// the count written so far, or EINTR if nothing was.
func (e *end) WriteIntr(b []byte, intr <-chan struct{}) (int, error) {
	if !e.write {
		return 0, syscall.EBADF
	}
	if len(b) == 0 {
		return 0, nil
	}
	p := e.p
	p.mu.Lock()
	done := 0
	var fns []func()
	for done < len(b) {
		if p.readers == 0 {
			p.mu.Unlock()
			notify(fns)
			if done > 0 {
				return done, nil
			}
			return 0, syscall.EPIPE
		}
		free := Capacity - p.n
		// Atomic writes need room for the whole thing at once.
		if free == 0 || (len(b) <= PipeBuf && free < len(b)) {
			if e.nonblock() {
				p.mu.Unlock()
				notify(fns)
				if done > 0 {
					return done, nil
				}
				return 0, syscall.EAGAIN
			}
			if p.wait(intr) {
				p.mu.Unlock()
				notify(fns)
				if done > 0 {
					return done, nil
				}
				return 0, syscall.EINTR
			}
			continue
		}
		for free > 0 && done < len(b) {
			tail := (p.start + p.n) % Capacity
			chunk := min(free, Capacity-tail, len(b)-done)
			copy(p.buf[tail:tail+chunk], b[done:done+chunk])
			p.n += chunk
			free -= chunk
			done += chunk
		}
		fns = p.wake()
	}
	p.mu.Unlock()
	notify(fns)
	return done, nil
}

// Close releases this end; the other end sees EOF (reader) or EPIPE
// (writer) once no descriptor of this kind remains.
func (e *end) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return syscall.EBADF
	}
	e.closed = true
	e.mu.Unlock()
	p := e.p
	p.mu.Lock()
	if e.write {
		p.writers--
	} else {
		p.readers--
	}
	fns := p.wake()
	p.mu.Unlock()
	notify(fns)
	return nil
}

func (e *end) Stat(st *syscall.Stat_t) error {
	// Linux reports size 0 for pipes; FIONREAD (Available) gives the fill.
	*st = syscall.Stat_t{Dev: Dev, Ino: e.p.ino, Nlink: 1, Mode: syscall.S_IFIFO | 0o600, Blksize: PipeBuf}
	return nil
}

func (e *end) Flags() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flags
}

// SetFlags changes O_NONBLOCK (the only status flag that matters for a
// pipe); the access mode never changes.
func (e *end) SetFlags(flags int) error {
	const settable = syscall.O_NONBLOCK | syscall.O_ASYNC | syscall.O_APPEND | syscall.O_NOATIME
	e.mu.Lock()
	e.flags = e.flags&^settable | flags&settable
	e.mu.Unlock()
	// A blocked caller re-reads the flag only when woken; waking it is
	// harmless and lets a switch to non-blocking take effect promptly.
	e.p.mu.Lock()
	fns := e.p.wake()
	e.p.mu.Unlock()
	notify(fns)
	return nil
}

// Readiness implements fdesc.Pollable with Linux's rules: the read end is
// readable with data and hung up with no writers; the write end is
// writable when an atomic PIPE_BUF write would fit and in error with no
// readers.
func (e *end) Readiness() uint32 {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	var r uint32
	if e.write {
		if Capacity-p.n >= PipeBuf {
			r |= fdesc.PollOut
		}
		if p.readers == 0 {
			r |= fdesc.PollErr
		}
		return r
	}
	if p.n > 0 {
		r |= fdesc.PollIn
	}
	if p.writers == 0 {
		r |= fdesc.PollHup
	}
	return r
}

// Watch implements fdesc.Pollable.
func (e *end) Watch(fn func()) (cancel func()) {
	p := e.p
	p.mu.Lock()
	id := p.nextW
	p.nextW++
	p.watchers[id] = fn
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.watchers, id)
		p.mu.Unlock()
	}
}

// Available returns the number of unread bytes (ioctl FIONREAD).
func (e *end) Available() int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.p.n
}
