package linux

import (
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/sched"
)

// rt_sigaction(sig, act, oldact, sigsetsize)
//
//go:nosplit
func sysRtSigaction(f *amd64.Frame) uintptr {
	sig, act, old, size := int(f.RDI), uintptr(f.RSI), uintptr(f.RDX), f.R10
	if sig < 1 || sig > 64 || size != 8 {
		return errno(syscall.EINVAL)
	}
	if old != 0 {
		b, ok := userBytes(old, 32, true)
		if !ok {
			return errno(syscall.EFAULT)
		}
		*(*sigaction)(unsafe.Pointer(&b[0])) = actions[sig]
	}
	if act != 0 {
		if sig == sigKILL || sig == sigSTOP {
			return errno(syscall.EINVAL)
		}
		b, ok := userBytes(act, 32, false)
		if !ok {
			return errno(syscall.EFAULT)
		}
		a := *(*sigaction)(unsafe.Pointer(&b[0]))
		if a.handler > sigIGN && a.flags&saRestorer == 0 {
			// Without a restorer there is no way back (Linux uses the vDSO's).
			return errno(syscall.EINVAL)
		}
		a.mask &^= 1<<(sigKILL-1) | 1<<(sigSTOP-1)
		actions[sig] = a
	}
	return 0
}

const (
	sigBlock   = 0
	sigUnblock = 1
	sigSetmask = 2
)

// rt_sigprocmask(how, set, oldset, sigsetsize)
//
//go:nosplit
func sysRtSigprocmask(f *amd64.Frame) uintptr {
	how, set, old, size := f.RDI, uintptr(f.RSI), uintptr(f.RDX), f.R10
	if size != 8 {
		return errno(syscall.EINVAL)
	}
	t := sched.Current()
	if old != 0 && !writeU64(old, t.SigMask) {
		return errno(syscall.EFAULT)
	}
	if set == 0 {
		return 0
	}
	m, ok := readU64(set)
	if !ok {
		return errno(syscall.EFAULT)
	}
	m &^= 1<<(sigKILL-1) | 1<<(sigSTOP-1)
	switch how {
	case sigBlock:
		t.SigMask |= m
	case sigUnblock:
		t.SigMask &^= m
	case sigSetmask:
		t.SigMask = m
	default:
		return errno(syscall.EINVAL)
	}
	return 0
}

// sigaltstack(ss, old_ss): stack_t is {sp, flags int32, size}.
//
//go:nosplit
func sysSigaltstack(f *amd64.Frame) uintptr {
	ss, old := uintptr(f.RDI), uintptr(f.RSI)
	t := sched.Current()
	if old != 0 {
		flags := uint64(t.AltFlags)
		if t.AltSize == 0 {
			flags = ssDisable
		}
		if !writeU64(old, uint64(t.AltSP)) || !writeU64(old+8, flags) || !writeU64(old+16, uint64(t.AltSize)) {
			return errno(syscall.EFAULT)
		}
	}
	if ss == 0 {
		return 0
	}
	sp, ok1 := readU64(ss)
	flags, ok2 := readU64(ss + 8)
	size, ok3 := readU64(ss + 16)
	if !ok1 || !ok2 || !ok3 {
		return errno(syscall.EFAULT)
	}
	if uint32(flags)&ssDisable != 0 {
		t.AltSP, t.AltSize, t.AltFlags = 0, 0, ssDisable
		return 0
	}
	if size < 2048 {
		return errno(syscall.ENOMEM)
	}
	t.AltSP, t.AltSize, t.AltFlags = uintptr(sp), uintptr(size), 0
	return 0
}

// tgkill(tgid, tid, sig)
//
//go:nosplit
func sysTgkill(f *amd64.Frame) uintptr {
	if int64(f.RDI) != pid {
		return errno(syscall.ESRCH)
	}
	return signalThread(int32(f.RSI), int(f.RDX))
}

// tkill(tid, sig)
//
//go:nosplit
func sysTkill(f *amd64.Frame) uintptr { return signalThread(int32(f.RDI), int(f.RSI)) }

//go:nosplit
func signalThread(tid int32, sig int) uintptr {
	if sig < 0 || sig > 64 {
		return errno(syscall.EINVAL)
	}
	t := sched.FindTID(tid)
	if t == nil {
		return errno(syscall.ESRCH)
	}
	if sig != 0 {
		Post(t, sig, siTkill, 0)
	}
	return 0
}

// kill(pid, sig): the process is PID 1; the signal goes to the calling
// thread if it does not block it, else to the first thread that does not.
//
//go:nosplit
func sysKill(f *amd64.Frame) uintptr {
	p, sig := int64(f.RDI), int(f.RSI)
	if p != pid && p != 0 && p != -1 {
		return errno(syscall.ESRCH)
	}
	if sig < 0 || sig > 64 {
		return errno(syscall.EINVAL)
	}
	if sig == 0 {
		return 0
	}
	t := sched.Current()
	if t.SigMask&(1<<(sig-1)) != 0 {
		for i := 0; i < sched.MaxThreads; i++ {
			c := sched.ThreadAt(i)
			if (c.State == sched.Running || c.State == sched.Runnable || c.State == sched.Blocked) && c.SigMask&(1<<(sig-1)) == 0 {
				t = c
				break
			}
		}
	}
	Post(t, sig, 0, 0)
	return 0
}

// rt_sigreturn: the restorer calls it with RSP pointing at the ucontext.
//
//go:nosplit
func sysRtSigreturn(f *amd64.Frame) uintptr {
	if !sigreturn(sched.Current(), f, uintptr(f.RSP)) {
		fatalSignal(sigSEGV, f)
	}
	return uintptr(f.RAX) // the restored RAX, not a result
}
