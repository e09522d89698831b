package linux

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/boottrace"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/platform"
	"github.com/stardust-go/stardust/kernel/sched"
)

// Threads, futexes and process identity. There is one process (PID 1); its
// threads are the scheduler's threads.

const pid = 1

const (
	cloneVM            = 0x100
	cloneFS            = 0x200
	cloneFiles         = 0x400
	cloneSighand       = 0x800
	cloneThread        = 0x10000
	cloneSysvsem       = 0x40000
	cloneSettls        = 0x80000
	cloneParentSettid  = 0x100000
	cloneChildCleartid = 0x200000
	cloneChildSettid   = 0x1000000
)

// clone(flags, stack, parent_tid, child_tid, tls): only threads (the way
// Go and every pthread library create them); a new process would need a
// second address space, which a unikernel does not have.
//
//go:nosplit
func sysClone(f *amd64.Frame) uintptr {
	flags, stack, ptid, ctid, tls := f.RDI, uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10), f.R8
	const thread = cloneVM | cloneFS | cloneFiles | cloneSighand | cloneThread
	if flags&thread != thread {
		return errno(syscall.ENOSYS)
	}
	parent := sched.Current()
	t := sched.NewThread(f)
	if t == nil {
		return errno(syscall.EAGAIN)
	}
	cf := t.Frame()
	cf.RAX = 0
	if stack != 0 {
		cf.RSP = uint64(stack)
	}
	t.FSBase = parent.FSBase
	if flags&cloneSettls != 0 {
		t.FSBase = tls
	}
	t.SigMask = parent.SigMask
	t.AltSP, t.AltSize, t.AltFlags = 0, 0, ssDisable
	if flags&cloneParentSettid != 0 {
		writeU32(ptid, uint32(t.TID))
	}
	if flags&cloneChildSettid != 0 {
		writeU32(ctid, uint32(t.TID))
	}
	if flags&cloneChildCleartid != 0 {
		t.ClearTID = ctid
	}
	sched.Wake(t, sched.WokenNormally)
	return uintptr(t.TID)
}

// exit ends the calling thread.
//
//go:nosplit
func sysExit(f *amd64.Frame) uintptr {
	t := sched.Current()
	if t.ClearTID != 0 && writeU32(t.ClearTID, 0) {
		sched.FutexWake(t.ClearTID, 1)
	}
	if sched.LiveThreads() == 1 {
		platform.Exit(int(f.RDI & 0xFF))
	}
	sched.Exit()
	return 0
}

// exit_group ends the program, and with it the VM.
//
//go:nosplit
func sysExitGroup(f *amd64.Frame) uintptr {
	boottrace.Mark(boottrace.Exit)
	boottrace.Report(syscallName)
	platform.Exit(int(f.RDI & 0xFF))
	return 0
}

const (
	futexWait          = 0
	futexWake          = 1
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivate       = 128
	futexClockRealtime = 256
)

// futex(uaddr, op, val, timeout, uaddr2, val3): WAIT and WAKE (relative
// timeouts) as the Go runtime uses them, and their BITSET forms with
// absolute timeouts (the bitset itself is treated as "all").
//
//go:nosplit
func sysFutex(f *amd64.Frame) uintptr {
	uaddr, op, val, timeout := uintptr(f.RDI), f.RSI, uint32(f.RDX), uintptr(f.R10)
	cmd := op &^ (futexPrivate | futexClockRealtime)
	if uaddr&3 != 0 {
		return errno(syscall.EINVAL)
	}
	switch cmd {
	case futexWait, futexWaitBitset:
		if _, ok := userBytes(uaddr, 4, false); !ok {
			return errno(syscall.EFAULT)
		}
		deadline := int64(0)
		if timeout != 0 {
			ns, ok := readTimespec(timeout)
			if !ok {
				return errno(syscall.EINVAL)
			}
			switch {
			case cmd == futexWait:
				deadline = clock.Nanotime() + ns
			case op&futexClockRealtime != 0:
				deadline = clock.Nanotime() + (ns - clock.Walltime())
			default:
				deadline = ns
			}
			if deadline <= 0 {
				deadline = 1 // already passed: time out at once
			}
		}
		switch sched.FutexWait(uaddr, val, deadline) {
		case sched.FutexAgain:
			return errno(syscall.EAGAIN)
		case sched.FutexTimedOut:
			return errno(syscall.ETIMEDOUT)
		case sched.FutexSignal:
			return errno(syscall.EINTR)
		}
		return 0
	case futexWake, futexWakeBitset:
		return uintptr(sched.FutexWake(uaddr, int(int32(val))))
	}
	return errno(syscall.ENOSYS)
}

//go:nosplit
func sysGettid(f *amd64.Frame) uintptr { return uintptr(sched.Current().TID) }

//go:nosplit
func sysGetpid(f *amd64.Frame) uintptr { return pid }

//go:nosplit
func sysGetppid(f *amd64.Frame) uintptr { return 0 }

// getuid, geteuid, getgid, getegid: the program runs as root, alone.
//
//go:nosplit
func sysGetuid(f *amd64.Frame) uintptr { return 0 }

//go:nosplit
func sysSchedYield(f *amd64.Frame) uintptr {
	sched.Yield()
	return 0
}

// sched_getaffinity(pid, len, mask) returns the size of the mask it wrote,
// with one bit per online CPU; Go sets GOMAXPROCS from it.
//
//go:nosplit
func sysSchedGetaffinity(f *amd64.Frame) uintptr {
	size, mask := uintptr(f.RSI), uintptr(f.RDX)
	if size < 8 || size&7 != 0 {
		return errno(syscall.EINVAL)
	}
	n := sched.NumCPU()
	if !writeU64(mask, uint64(1)<<n-1) {
		return errno(syscall.EFAULT)
	}
	return 8
}

// sched_setaffinity is accepted and has no effect: threads run on any CPU.
//
//go:nosplit
func sysSchedSetaffinity(f *amd64.Frame) uintptr { return 0 }

//go:nosplit
func sysSetTidAddress(f *amd64.Frame) uintptr {
	t := sched.Current()
	t.ClearTID = uintptr(f.RDI)
	return uintptr(t.TID)
}

const (
	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
)

// arch_prctl: FS is the program's TLS register. GS belongs to the kernel
// (per-CPU data), which the Go runtime never touches on linux/amd64.
//
//go:nosplit
func sysArchPrctl(f *amd64.Frame) uintptr {
	switch f.RDI {
	case archSetFS:
		if f.RSI >= 0x0000_8000_0000_0000 {
			return errno(syscall.EPERM)
		}
		sched.SetFS(f.RSI)
		return 0
	case archGetFS:
		if !writeU64(uintptr(f.RSI), sched.Current().FSBase) {
			return errno(syscall.EFAULT)
		}
		return 0
	}
	return errno(syscall.EINVAL)
}

// prctl: PR_SET_NAME and PR_GET_NAME are accepted; naming memory
// (PR_SET_VMA) reports EINVAL as kernels without the feature do, which
// makes the Go runtime stop asking.
//
//go:nosplit
func sysPrctl(f *amd64.Frame) uintptr {
	const prSetName, prGetName = 15, 16
	switch f.RDI {
	case prSetName:
		return 0
	case prGetName:
		if b, ok := userBytes(uintptr(f.RSI), 16, true); ok {
			copy(b, "stardust\x00")
			return 0
		}
		return errno(syscall.EFAULT)
	}
	return errno(syscall.EINVAL)
}
