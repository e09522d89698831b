package fdesc

// Optional interfaces added by the storage work (issue 5). Like the ones
// in fdesc.go, the system-call layer discovers them with a type assertion
// and falls back to the Linux errno when a description lacks them.

// Flocker is implemented by descriptions that take flock(2) locks
// (regular files and directories). how is LOCK_SH, LOCK_EX or LOCK_UN,
// optionally with LOCK_NB; a conflicting lock with LOCK_NB is EWOULDBLOCK
// (EAGAIN). Locks belong to the open file description and are released
// when it is closed. Linux accepts flock on any descriptor (pipes,
// sockets), so for descriptions without Flocker the system-call layer can
// report success.
type Flocker interface {
	Flock(how int) error
}

// Pather is implemented by descriptions that were opened by path; Path
// returns the absolute path that opened it, for readlink of
// /proc/self/fd/N and for error messages.
type Pather interface {
	Path() string
}

// Availabler is implemented by stream descriptions (pipes) that know how
// many bytes a read would return now: ioctl(FIONREAD).
type Availabler interface {
	Available() int
}

// Interruptible is implemented by descriptions whose Read or Write may
// block indefinitely (pipes). ReadIntr and WriteIntr behave like Read and
// Write, but when intr fires while they wait (a signal for the calling
// thread, as for epoll.Wait) they return what was transferred so far, or
// EINTR if nothing was. A nil intr never fires.
type Interruptible interface {
	ReadIntr(p []byte, intr <-chan struct{}) (int, error)
	WriteIntr(p []byte, intr <-chan struct{}) (int, error)
}
