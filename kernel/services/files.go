package services

import (
	"sync"
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// The file-system half of the server: path calls against the VFS.

var (
	fsMu  sync.RWMutex
	theFS *vfs.VFS
)

// SetFS installs the namespace file calls run against (package files
// assembles it at start-up).
func SetFS(v *vfs.VFS) {
	fsMu.Lock()
	theFS = v
	fsMu.Unlock()
}

func currentFS() *vfs.VFS {
	fsMu.RLock()
	defer fsMu.RUnlock()
	return theFS
}

// cstr returns the NUL-terminated string at addr (checked by the kernel).
func cstr(addr uint64) string {
	if addr == 0 {
		return ""
	}
	p := unsafe.Pointer(uintptr(addr))
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}

// base returns the directory a handle names (nil: the working directory).
func base(h int32) (*vfs.Dentry, error) {
	if h < 0 {
		return nil, nil
	}
	d := get(h)
	if d == nil {
		return nil, syscall.EBADF
	}
	dn := vfs.DentryOf(d)
	if dn == nil {
		return nil, syscall.ENOTDIR
	}
	return dn, nil
}

func doPath(r *bridge.Request) (int64, bool) {
	a := r.Args
	switch r.Op {
	case bridge.OpOpenAt, bridge.OpStatAt, bridge.OpReadlinkAt, bridge.OpMkdirAt, bridge.OpUnlinkAt,
		bridge.OpRenameAt, bridge.OpLinkAt, bridge.OpSymlinkAt, bridge.OpAccessAt, bridge.OpChmodAt,
		bridge.OpUtimensAt, bridge.OpStatfsAt, bridge.OpTruncateAt, bridge.OpChdir, bridge.OpGetcwd:
	default:
		return 0, false
	}
	v := currentFS()
	if v == nil {
		return -int64(syscall.ENOENT), true
	}
	if r.Op == bridge.OpGetcwd {
		cwd, err := v.Getcwd()
		if err != nil {
			return result(0, err), true
		}
		if len(cwd)+1 > int(a[1]) {
			return -int64(syscall.ERANGE), true
		}
		n := copy(user(a[0], a[1]), cwd)
		user(a[0], a[1])[n] = 0
		return int64(n + 1), true
	}
	b, err := base(r.Handle)
	if err != nil {
		return result(0, err), true
	}
	path := cstr(a[1])
	flagsEmpty := a[1] == 0 // fd-based forms (fchmod, ftruncate, fchdir, fstatfs, utimensat(fd, NULL))
	switch r.Op {
	case bridge.OpOpenAt:
		return newHandle(v.OpenAt(b, path, int(a[2]), uint32(a[3]))), true
	case bridge.OpStatAt:
		return result(0, v.StatAt(b, path, (*syscall.Stat_t)(unsafe.Pointer(uintptr(a[2]))), int(a[3]))), true
	case bridge.OpReadlinkAt:
		target, err := v.ReadlinkAt(b, path)
		if err != nil {
			return result(0, err), true
		}
		return int64(copy(user(a[2], a[3]), target)), true
	case bridge.OpMkdirAt:
		return result(0, v.MkdirAt(b, path, uint32(a[2]))), true
	case bridge.OpUnlinkAt:
		return result(0, v.UnlinkAt(b, path, int(a[2]))), true
	case bridge.OpRenameAt, bridge.OpLinkAt:
		nb, err := base(int32(int64(a[2])))
		if err != nil {
			return result(0, err), true
		}
		if r.Op == bridge.OpRenameAt {
			return result(0, v.RenameAt2(b, path, nb, cstr(a[3]), uint(a[4]))), true
		}
		return result(0, v.LinkAt(b, path, nb, cstr(a[3]), int(a[4]))), true
	case bridge.OpSymlinkAt:
		return result(0, v.SymlinkAt(cstr(a[2]), b, path)), true
	case bridge.OpAccessAt:
		return result(0, v.AccessAt(b, path, uint32(a[2]), int(a[3]))), true
	case bridge.OpChmodAt:
		if flagsEmpty {
			return result(0, v.ChmodAt(b, "", uint32(a[2]), vfs.AT_EMPTY_PATH)), true
		}
		return result(0, v.ChmodAt(b, path, uint32(a[2]), int(a[3]))), true
	case bridge.OpUtimensAt:
		var times *[2]syscall.Timespec
		if a[2] != 0 {
			times = (*[2]syscall.Timespec)(unsafe.Pointer(uintptr(a[2])))
		}
		flags := int(a[3])
		if flagsEmpty {
			flags |= vfs.AT_EMPTY_PATH
		}
		return result(0, v.UtimensAt(b, path, times, flags)), true
	case bridge.OpStatfsAt:
		return result(0, v.StatfsAt(b, path, (*syscall.Statfs_t)(unsafe.Pointer(uintptr(a[2]))))), true
	case bridge.OpTruncateAt:
		if flagsEmpty {
			t, ok := get(r.Handle).(fdesc.Truncater)
			if !ok {
				return -int64(syscall.EINVAL), true
			}
			return result(0, t.Truncate(int64(a[2]))), true
		}
		return result(0, v.TruncateAt(b, path, int64(a[2]))), true
	case bridge.OpChdir:
		if flagsEmpty {
			path = "."
		}
		return result(0, v.Chdir(b, path)), true
	}
	return -int64(syscall.ENOSYS), true
}

// doFile answers calls on open files that are not plain read/write.
func doFile(r *bridge.Request, d fdesc.Description) (int64, bool) {
	a := r.Args
	switch r.Op {
	case bridge.OpGetdents:
		dir, ok := d.(fdesc.Directory)
		if !ok {
			return -int64(syscall.ENOTDIR), true
		}
		return result(dir.ReadDirents(user(a[1], a[2]))), true
	case bridge.OpFsync:
		s, ok := d.(fdesc.Syncer)
		if !ok {
			return 0, true // nothing to make durable (a pipe, a tmpfs file with no syncer)
		}
		return result(0, s.Sync(a[1] == 1)), true
	case bridge.OpSync:
		if dn := vfs.DentryOf(d); dn != nil {
			return result(0, dn.SyncFS()), true
		}
		return 0, true // pipes and sockets: nothing to sync
	case bridge.OpFlock:
		l, ok := d.(interface{ Flock(how int) error })
		if !ok {
			return -int64(syscall.EINVAL), true
		}
		return result(0, l.Flock(int(a[1]))), true
	}
	return 0, false
}
