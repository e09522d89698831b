package wasihost

import (
	"errors"
	"syscall"
)

// WASI preview 1 errno values (the numbering differs from Linux's).
const (
	errnoSuccess     = 0
	errnoAgain       = 6
	errnoBadf        = 8
	errnoConnaborted = 13
	errnoConnrefused = 14
	errnoConnreset   = 15
	errnoFault       = 21
	errnoIntr        = 27
	errnoInval       = 28
	errnoIO          = 29
	errnoMfile       = 33
	errnoNobufs      = 42
	errnoNomem       = 48
	errnoNotconn     = 53
	errnoNotsock     = 57
	errnoNotsup      = 58
	errnoPipe        = 64
)

// toErrno maps a host error from a socket system call to a WASI errno.
func toErrno(err error) uint64 {
	if err == nil {
		return errnoSuccess
	}
	var e syscall.Errno
	if !errors.As(err, &e) {
		return errnoIO
	}
	switch e {
	case syscall.EAGAIN:
		return errnoAgain
	case syscall.EBADF:
		return errnoBadf
	case syscall.ECONNABORTED:
		return errnoConnaborted
	case syscall.ECONNREFUSED:
		return errnoConnrefused
	case syscall.ECONNRESET:
		return errnoConnreset
	case syscall.EFAULT:
		return errnoFault
	case syscall.EINTR:
		return errnoIntr
	case syscall.EINVAL:
		return errnoInval
	case syscall.EMFILE, syscall.ENFILE:
		return errnoMfile
	case syscall.ENOBUFS:
		return errnoNobufs
	case syscall.ENOMEM:
		return errnoNomem
	case syscall.ENOTCONN:
		return errnoNotconn
	case syscall.ENOTSOCK:
		return errnoNotsock
	case syscall.EOPNOTSUPP:
		return errnoNotsup
	case syscall.EPIPE:
		return errnoPipe
	}
	return errnoIO
}
