package linux

import (
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
)

// Argument checking that happens before a handler touches memory or
// threads: each bad call must give Linux's errno.
func TestSyscallArgumentErrors(t *testing.T) {
	fds = [maxFDs]fdEntry{}
	initFDs()
	type args [6]uint64
	cases := []struct {
		name string
		fn   handler
		a    args
		want syscall.Errno
	}{
		{"mmap zero length", sysMmap, args{0, 0, 3, mapPrivate | mapAnonymous}, syscall.EINVAL},
		{"mmap bad prot", sysMmap, args{0, 4096, 0x80, mapPrivate | mapAnonymous}, syscall.EINVAL},
		{"mmap neither shared nor private", sysMmap, args{0, 4096, 3, mapAnonymous}, syscall.EINVAL},
		{"mmap of a bad fd", sysMmap, args{0, 4096, 1, mapPrivate, 999, 0}, syscall.EBADF},
		{"mmap of the console", sysMmap, args{0, 4096, 1, mapPrivate, 1, 0}, syscall.ENODEV},
		{"mmap shared and private", sysMmap, args{0, 4096, 1, mapPrivate | mapShared | mapAnonymous, 0, 0}, syscall.EINVAL},
		{"mmap unaligned offset", sysMmap, args{0, 4096, 1, mapShared, 1, 100}, syscall.EINVAL},
		{"msync unaligned", sysMsync, args{4097, 4096, msSync}, syscall.EINVAL},
		{"msync async and sync", sysMsync, args{4096, 4096, msSync | msAsync}, syscall.EINVAL},
		{"flock bad fd", sysFlock, args{999, 2}, syscall.EBADF},
		{"fcntl F_SETLK bad pointer", sysFcntl, args{1, fSetlk, 0}, syscall.EFAULT},
		{"munmap unaligned", sysMunmap, args{0x1001, 4096}, syscall.EINVAL},
		{"munmap zero length", sysMunmap, args{0x1000, 0}, syscall.EINVAL},
		{"mprotect unaligned", sysMprotect, args{0x1001, 4096, 1}, syscall.EINVAL},
		{"madvise unaligned", sysMadvise, args{0x1001, 4096, 4}, syscall.EINVAL},
		{"rt_sigaction signal 0", sysRtSigaction, args{0, 0, 0, 8}, syscall.EINVAL},
		{"rt_sigaction signal 65", sysRtSigaction, args{65, 0, 0, 8}, syscall.EINVAL},
		{"rt_sigaction bad sigsetsize", sysRtSigaction, args{10, 0, 0, 16}, syscall.EINVAL},
		{"rt_sigprocmask bad sigsetsize", sysRtSigprocmask, args{0, 0, 0, 4}, syscall.EINVAL},
		{"futex unaligned", sysFutex, args{0x1002, futexWake, 1}, syscall.EINVAL},
		{"futex unknown op", sysFutex, args{0x1000, 5, 1}, syscall.ENOSYS},
		{"sched_getaffinity short mask", sysSchedGetaffinity, args{0, 4, 0x1000}, syscall.EINVAL},
		{"arch_prctl ARCH_SET_GS", sysArchPrctl, args{archSetGS, 0}, syscall.EINVAL},
		{"clone a process", sysClone, args{17 /* SIGCHLD */, 0}, syscall.ENOSYS},
		{"tgkill another process", sysTgkill, args{2, 1, 23}, syscall.ESRCH},
		{"tkill bad signal", sysTkill, args{1, 99}, syscall.EINVAL},
		{"eventfd2 bad flags", sysEventfd2, args{0, 0x10}, syscall.EINVAL},
		{"epoll_create1 bad flags", sysEpollCreate1, args{1}, syscall.EINVAL},
		{"epoll_create size 0", sysEpollCreate, args{0}, syscall.EINVAL},
		{"epoll_ctl bad epfd", sysEpollCtl, args{999, epollCtlAdd, 0, 0}, syscall.EBADF},
		{"epoll_pwait bad epfd", sysEpollPwait, args{999, 0, 1, 0}, syscall.EBADF},
		{"read bad fd", sysRead, args{999, 0, 1}, syscall.EBADF},
		{"write fd out of range", sysWrite, args{1 << 40, 0, 1}, syscall.EBADF},
		{"close bad fd", sysClose, args{500}, syscall.EBADF},
		{"fcntl bad fd", sysFcntl, args{777, fGetfl}, syscall.EBADF},
		{"dup3 same fd", sysDup3, args{1, 1, 0}, syscall.EINVAL},
		{"dup3 bad flags", sysDup3, args{1, 5, 1}, syscall.EINVAL},
		{"clock_gettime unknown clock", sysClockGettime, args{42, 0}, syscall.EINVAL},
		{"clock_settime monotonic", sysClockSettime, args{clockMonotonic, 0}, syscall.EINVAL},
		{"prlimit64 unknown resource", sysPrlimit64, args{0, 99, 0, 0}, syscall.EINVAL},
		{"prlimit64 other process", sysPrlimit64, args{42, 7, 0, 0}, syscall.ESRCH},
		{"getcwd tiny buffer", sysGetcwd, args{0x1000, 1}, syscall.ERANGE},
		{"kill other process", sysKill, args{42, 9}, syscall.ESRCH},
	}
	for _, c := range cases {
		f := &amd64.Frame{RDI: c.a[0], RSI: c.a[1], RDX: c.a[2], R10: c.a[3], R8: c.a[4], R9: c.a[5]}
		got := c.fn(f)
		if got != errno(c.want) {
			t.Errorf("%s: got %d, want -%d (%v)", c.name, int64(got), int(c.want), c.want)
		}
	}
}

func TestFcntlAndDupOnConsole(t *testing.T) {
	fds = [maxFDs]fdEntry{}
	initFDs()
	f := &amd64.Frame{RDI: 1, RSI: fGetfd}
	if r := sysFcntl(f); r != 0 {
		t.Fatalf("F_GETFD(1) = %d", int64(r))
	}
	f = &amd64.Frame{RDI: 1, RSI: fDupfdCloexec, RDX: 10}
	if r := sysFcntl(f); r != 10 {
		t.Fatalf("F_DUPFD_CLOEXEC = %d, want 10", int64(r))
	}
	if r := sysFcntl(&amd64.Frame{RDI: 10, RSI: fGetfd}); r != 1 {
		t.Fatalf("cloexec not set on the duplicate")
	}
	if r := sysClose(&amd64.Frame{RDI: 10}); r != 0 {
		t.Fatalf("close = %d", int64(r))
	}
	if r := sysClose(&amd64.Frame{RDI: 10}); r != errno(syscall.EBADF) {
		t.Fatalf("second close = %d, want EBADF", int64(r))
	}
}
