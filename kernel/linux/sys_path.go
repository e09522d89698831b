package linux

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
)

// File-system calls. Files live in service context (the VFS, package
// kernel/fs/vfs); these handlers check the paths and descriptors, then
// forward. Until the service side is up (during the Go runtime's own
// start), there are no files: ENOENT, as the runtime expects.

const atFDCWD = -100

// openOnlyFlags act at open time and are not status flags (F_GETFL does
// not report them): O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_CLOEXEC.
const openOnlyFlags = 0x40 | 0x80 | 0x100 | 0x200 | oCloexec

// dirHandle returns the handle of the directory dirfd names (-1 for the
// working directory), or an errno.
//
//go:nosplit
func dirHandle(dirfd uint64) (int32, uintptr) {
	if int32(dirfd) == atFDCWD {
		return -1, 0
	}
	e, ok := getFD(dirfd)
	if !ok {
		return 0, errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return 0, errno(syscall.ENOTDIR)
	}
	return e.obj, 0
}

// pathOK checks a path argument (NULL is allowed only when may is set).
//
//go:nosplit
func pathOK(p uint64, mayBeNull bool) bool {
	if p == 0 {
		return mayBeNull
	}
	_, ok := cstring(uintptr(p), 4096)
	return ok
}

// pathCall forwards a call whose first two arguments are (dirfd, path).
//
//go:nosplit
func pathCall(op int32, dirfd, path, a2, a3, a4 uint64) uintptr {
	if !serviceUp {
		return errno(syscall.ENOENT)
	}
	h, err := dirHandle(dirfd)
	if err != 0 {
		return err
	}
	if !pathOK(path, false) {
		return errno(syscall.EFAULT)
	}
	return forward(op, h, 0, dirfd, path, a2, a3, a4, 0)
}

// The kernel applies the umask to the modes of files and directories it
// asks the service to create (the service's VFS runs with umask 0): umask
// is a raw system call in Go and must not wait for the service.
//
//go:nosplit
func sysOpenat(f *amd64.Frame) uintptr {
	r := pathCall(bridge.OpOpenAt, f.RDI, f.RSI, f.RDX, f.R10&0o7777&^umask, 0)
	return installHandle(r, f.RDX&oCloexec != 0, int32(f.RDX&^openOnlyFlags))
}

//go:nosplit
func sysOpen(f *amd64.Frame) uintptr {
	r := pathCall(bridge.OpOpenAt, uint64(atFDCWD&0xFFFFFFFF), f.RDI, f.RSI, f.RDX&0o7777&^umask, 0)
	return installHandle(r, f.RSI&oCloexec != 0, int32(f.RSI&^openOnlyFlags))
}

// newfstatat(dirfd, path, st, flags); stat and lstat are special cases.
//
//go:nosplit
func sysNewfstatat(f *amd64.Frame) uintptr {
	if _, ok := userBytes(uintptr(f.RDX), 144, true); !ok {
		return errno(syscall.EFAULT)
	}
	if f.R10&atEmptyPath != 0 && f.RSI != 0 {
		if b, ok := cstring(uintptr(f.RSI), 1); ok && len(b) == 0 {
			// fstatat(fd, "", st, AT_EMPTY_PATH) is fstat(fd).
			f.RSI = f.RDX
			return sysFstat(f)
		}
	}
	return pathCall(bridge.OpStatAt, f.RDI, f.RSI, f.RDX, f.R10, 0)
}

const (
	atSymlinkNofollow = 0x100
	atRemovedir       = 0x200
	atEmptyPath       = 0x1000
)

//go:nosplit
func sysStat(f *amd64.Frame) uintptr {
	f.R10, f.RDX, f.RSI, f.RDI = 0, f.RSI, f.RDI, uint64(atFDCWD&0xFFFFFFFF)
	return sysNewfstatat(f)
}

//go:nosplit
func sysLstat(f *amd64.Frame) uintptr {
	f.R10, f.RDX, f.RSI, f.RDI = atSymlinkNofollow, f.RSI, f.RDI, uint64(atFDCWD&0xFFFFFFFF)
	return sysNewfstatat(f)
}

// readlinkat(dirfd, path, buf, size)
//
//go:nosplit
func sysReadlinkat(f *amd64.Frame) uintptr {
	if int64(f.R10) <= 0 {
		return errno(syscall.EINVAL)
	}
	if _, ok := userBytes(uintptr(f.RDX), uintptr(f.R10), true); !ok {
		return errno(syscall.EFAULT)
	}
	return pathCall(bridge.OpReadlinkAt, f.RDI, f.RSI, f.RDX, f.R10, 0)
}

//go:nosplit
func sysReadlink(f *amd64.Frame) uintptr {
	f.R10, f.RDX, f.RSI, f.RDI = f.RDX, f.RSI, f.RDI, uint64(atFDCWD&0xFFFFFFFF)
	return sysReadlinkat(f)
}

//go:nosplit
func sysMkdirat(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpMkdirAt, f.RDI, f.RSI, f.RDX&0o7777&^umask, 0, 0)
}

//go:nosplit
func sysMkdir(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpMkdirAt, uint64(atFDCWD&0xFFFFFFFF), f.RDI, f.RSI&0o7777&^umask, 0, 0)
}

//go:nosplit
func sysUnlinkat(f *amd64.Frame) uintptr {
	if f.RDX&^atRemovedir != 0 {
		return errno(syscall.EINVAL)
	}
	return pathCall(bridge.OpUnlinkAt, f.RDI, f.RSI, f.RDX, 0, 0)
}

//go:nosplit
func sysUnlink(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpUnlinkAt, uint64(atFDCWD&0xFFFFFFFF), f.RDI, 0, 0, 0)
}

//go:nosplit
func sysRmdir(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpUnlinkAt, uint64(atFDCWD&0xFFFFFFFF), f.RDI, atRemovedir, 0, 0)
}

// twoPaths forwards renameat2/linkat: (olddirfd, old, newdirfd, new, flags).
//
//go:nosplit
func twoPaths(op int32, olddir, old, newdir, new, flags uint64) uintptr {
	if !serviceUp {
		return errno(syscall.ENOENT)
	}
	nh, err := dirHandle(newdir)
	if err != 0 {
		return err
	}
	if !pathOK(new, false) {
		return errno(syscall.EFAULT)
	}
	return pathCall(op, olddir, old, uint64(int64(nh)), new, flags)
}

//go:nosplit
func sysRenameat2(f *amd64.Frame) uintptr {
	return twoPaths(bridge.OpRenameAt, f.RDI, f.RSI, f.RDX, f.R10, f.R8)
}

//go:nosplit
func sysRenameat(f *amd64.Frame) uintptr {
	return twoPaths(bridge.OpRenameAt, f.RDI, f.RSI, f.RDX, f.R10, 0)
}

//go:nosplit
func sysRename(f *amd64.Frame) uintptr {
	cwd := uint64(atFDCWD & 0xFFFFFFFF)
	return twoPaths(bridge.OpRenameAt, cwd, f.RDI, cwd, f.RSI, 0)
}

//go:nosplit
func sysLinkat(f *amd64.Frame) uintptr {
	return twoPaths(bridge.OpLinkAt, f.RDI, f.RSI, f.RDX, f.R10, f.R8)
}

// symlinkat(target, newdirfd, linkpath)
//
//go:nosplit
func sysSymlinkat(f *amd64.Frame) uintptr {
	if !pathOK(f.RDI, false) {
		return errno(syscall.EFAULT)
	}
	return pathCall(bridge.OpSymlinkAt, f.RSI, f.RDX, f.RDI, 0, 0)
}

//go:nosplit
func sysSymlink(f *amd64.Frame) uintptr {
	if !pathOK(f.RDI, false) {
		return errno(syscall.EFAULT)
	}
	return pathCall(bridge.OpSymlinkAt, uint64(atFDCWD&0xFFFFFFFF), f.RSI, f.RDI, 0, 0)
}

// faccessat2(dirfd, path, mode, flags); faccessat has no flags.
//
//go:nosplit
func sysFaccessat2(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpAccessAt, f.RDI, f.RSI, f.RDX, f.R10, 0)
}

//go:nosplit
func sysFaccessat(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpAccessAt, f.RDI, f.RSI, f.RDX, 0, 0)
}

//go:nosplit
func sysAccess(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpAccessAt, uint64(atFDCWD&0xFFFFFFFF), f.RDI, f.RSI, 0, 0)
}

//go:nosplit
func sysFchmodat(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpChmodAt, f.RDI, f.RSI, f.RDX, 0, 0)
}

//go:nosplit
func sysChmod(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpChmodAt, uint64(atFDCWD&0xFFFFFFFF), f.RDI, f.RSI, 0, 0)
}

// fchmod(fd, mode) is fchmodat(fd, "", mode, AT_EMPTY_PATH): the service
// sees path 0.
//
//go:nosplit
func sysFchmod(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return 0 // the console: nothing to change
	}
	return forwardFD(bridge.OpChmodAt, e, f.RDI, 0, f.RSI, 0, 0, 0)
}

// utimensat(dirfd, path, times, flags); path NULL means dirfd itself.
//
//go:nosplit
func sysUtimensat(f *amd64.Frame) uintptr {
	if f.RDX != 0 {
		if _, ok := userBytes(uintptr(f.RDX), 32, false); !ok {
			return errno(syscall.EFAULT)
		}
	}
	if f.RSI == 0 {
		e, ok := getFD(f.RDI)
		if !ok || e.kind != fdService {
			return errno(syscall.EBADF)
		}
		return forwardFD(bridge.OpUtimensAt, e, f.RDI, 0, f.RDX, f.R10, 0, 0)
	}
	return pathCall(bridge.OpUtimensAt, f.RDI, f.RSI, f.RDX, f.R10, 0)
}

// statfs(path, buf) and fstatfs(fd, buf).
//
//go:nosplit
func sysStatfs(f *amd64.Frame) uintptr {
	if _, ok := userBytes(uintptr(f.RSI), 120, true); !ok {
		return errno(syscall.EFAULT)
	}
	return pathCall(bridge.OpStatfsAt, uint64(atFDCWD&0xFFFFFFFF), f.RDI, f.RSI, 0, 0)
}

//go:nosplit
func sysFstatfs(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if _, ok := userBytes(uintptr(f.RSI), 120, true); !ok {
		return errno(syscall.EFAULT)
	}
	if e.kind != fdService {
		return errno(syscall.ENOSYS)
	}
	return forwardFD(bridge.OpStatfsAt, e, f.RDI, 0, f.RSI, 0, 0, 0)
}

//go:nosplit
func sysTruncate(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpTruncateAt, uint64(atFDCWD&0xFFFFFFFF), f.RDI, f.RSI, 0, 0)
}

//go:nosplit
func sysFtruncate(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return errno(syscall.EINVAL)
	}
	return forwardFD(bridge.OpTruncateAt, e, f.RDI, 0, f.RSI, 0, 0, 0)
}

//go:nosplit
func sysChdir(f *amd64.Frame) uintptr {
	return pathCall(bridge.OpChdir, uint64(atFDCWD&0xFFFFFFFF), f.RDI, 0, 0, 0)
}

//go:nosplit
func sysFchdir(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return errno(syscall.ENOTDIR)
	}
	return forwardFD(bridge.OpChdir, e, f.RDI, 0, 0, 0, 0, 0)
}

// getdents64(fd, buf, size)
//
//go:nosplit
func sysGetdents64(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return errno(syscall.ENOTDIR)
	}
	if _, ok := userBytes(uintptr(f.RSI), uintptr(f.RDX), true); !ok {
		return errno(syscall.EFAULT)
	}
	return forwardFD(bridge.OpGetdents, e, f.RDI, f.RSI, f.RDX, 0, 0, 0)
}

//go:nosplit
func sysFsync(f *amd64.Frame) uintptr { return fsync(f, 0) }

//go:nosplit
func sysFdatasync(f *amd64.Frame) uintptr { return fsync(f, 1) }

//go:nosplit
func fsync(f *amd64.Frame, dataOnly uint64) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return 0 // the console is always "synced"
	}
	return forwardFD(bridge.OpFsync, e, f.RDI, dataOnly, 0, 0, 0, 0)
}

// pipe2(fds, flags); pipe(fds) has no flags. The pipe comes from the pool
// the service keeps filled (see package bridge: Go makes pipe2 with
// RawSyscall, so it must not wait for the service); an empty pool is
// Linux's ENFILE. Packet-mode pipes (O_DIRECT) are not supported.
//
//go:nosplit
func sysPipe2(f *amd64.Frame) uintptr {
	fdsp, flags := uintptr(f.RDI), f.RSI
	if flags&^(oNonblock|oCloexec) != 0 {
		return errno(syscall.EINVAL)
	}
	if _, ok := userBytes(fdsp, 8, true); !ok {
		return errno(syscall.EFAULT)
	}
	if !serviceUp {
		return errno(syscall.ENFILE)
	}
	queueAsync(bridge.OpRefill, -1, bridge.PoolPipe)
	if poolN[bridge.PoolPipe] == 0 {
		return errno(syscall.ENFILE)
	}
	poolN[bridge.PoolPipe]--
	e := pool[bridge.PoolPipe][poolN[bridge.PoolPipe]]
	rh, wh := bridge.PipeHandles(e)
	cloexec, nb := flags&oCloexec != 0, int32(flags&oNonblock)
	rfd := installHandle(uintptr(rh)|pollableBit, cloexec, oRdonly|nb)
	if int64(rfd) < 0 {
		closeAsync(wh)
		return rfd
	}
	wfd := installHandle(uintptr(wh)|pollableBit, cloexec, oWronly|nb)
	if int64(wfd) < 0 {
		fds[rfd] = fdEntry{} // not visible to the program yet
		closeAsync(rh)
		return wfd
	}
	writeU32(fdsp, uint32(rfd))
	writeU32(fdsp+4, uint32(wfd))
	return 0
}

//go:nosplit
func sysPipe(f *amd64.Frame) uintptr {
	f.RSI = 0
	return sysPipe2(f)
}

// flock(fd, how): whole-file locks between open file descriptions, kept by
// the VFS (a blocking LOCK_EX waits in its service goroutine).
//
//go:nosplit
func sysFlock(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return errno(syscall.EINVAL)
	}
	return forwardFD(bridge.OpFlock, e, f.RDI, f.RSI, 0, 0, 0, 0)
}

// sync(): every mounted file system commits what it has (a journal
// commit for ext4 volumes; nothing to do for the image, tmpfs or shares).
//
//go:nosplit
func sysSync(f *amd64.Frame) uintptr {
	if !serviceUp {
		return 0
	}
	forward(bridge.OpSync, -1, 0, 0, 0, 0, 0, 0, 0)
	return 0 // sync(2) cannot fail
}

// syncfs(fd): the file system that fd lives on.
//
//go:nosplit
func sysSyncfs(f *amd64.Frame) uintptr {
	e, ok := getFD(f.RDI)
	if !ok {
		return errno(syscall.EBADF)
	}
	if e.kind != fdService {
		return 0 // the console, eventfds, epoll: nothing to sync
	}
	return forwardFD(bridge.OpSync, e, f.RDI, 0, 0, 0, 0, 0)
}
