package linux

import (
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/klog"
	"github.com/stardust-go/stardust/kernel/platform"
	"github.com/stardust-go/stardust/kernel/sched"
)

// Signal delivery, laid out exactly as Linux does on x86-64, because the Go
// runtime's handler reads and rewrites the frame:
//
//	[sp]            return address = sa_restorer (which calls rt_sigreturn)
//	[sp+8]          struct ucontext (uc_mcontext = struct sigcontext)
//	[sp+8+304]      struct siginfo (128 bytes)
//	above           the XSAVE image (FXSAVE's 512 bytes without XSAVE),
//	                64-byte aligned, then FP_XSTATE_MAGIC2 (with XSAVE)
//
// The handler is entered with RDI = signal, RSI = &siginfo, RDX =
// &ucontext, and RSP+8 16-byte aligned, as if it had been called.

const (
	sigSEGV  = 11
	sigBUS   = 7
	sigFPE   = 8
	sigILL   = 4
	sigTRAP  = 5
	sigKILL  = 9
	sigSTOP  = 19
	sigURG   = 23
	sigCHLD  = 17
	sigWINCH = 28

	saSiginfo   = 0x4
	saOnstack   = 0x08000000
	saRestorer  = 0x04000000
	saNodefer   = 0x40000000
	saResethand = 0x80000000

	ssOnstack = 1
	ssDisable = 2

	siTkill    = -6
	segvMaperr = 1
	segvAccerr = 2
	fpeIntdiv  = 1
	illIllopn  = 2

	ucontextSize = 304
	siginfoSize  = 128
	fpstateSize  = 512 // the legacy (FXSAVE) part of the image

	// With XSAVE, Linux marks the image in the legacy area's unused
	// "software reserved" bytes (struct _fpx_sw_bytes at offset 464) and
	// puts a second magic word right after the XSAVE image.
	fpxSwBytes     = 464
	fpXstateMagic1 = 0x46505853
	fpXstateMagic2 = 0x46505845
	ucFPXstate     = 1 // uc_flags: the fpstate is an XSAVE image
)

// fpImageSize is the size of the extended-state image in a signal frame,
// and room what the frame reserves for it.
//
//go:nosplit
func fpImageSize() (size, room uintptr) {
	size = uintptr(amd64.XsaveSize())
	if amd64.XsaveMask() == 0 {
		return size, size
	}
	return size, size + 4
}

// sigaction is a handler registration (process-wide, as on Linux).
type sigaction struct {
	handler, flags, restorer, mask uint64
}

var actions [65]sigaction

const (
	sigDFL = 0
	sigIGN = 1
)

// Post marks signal sig pending for thread t with the given si_code and
// si_addr, and interrupts an interruptible wait so it is delivered soon.
//
//go:nosplit
func Post(t *sched.Thread, sig int, code int64, addr uint64) {
	t.Pending |= 1 << (sig - 1)
	t.SigInfo[sig&31] = [2]uint64{uint64(code), addr}
	if t.State == sched.Blocked && t.Interruptible && t.SigMask&(1<<(sig-1)) == 0 {
		sched.Wake(t, sched.WokenSignal)
	}
	sched.Kick(t) // running on another CPU: make it enter the kernel

}

// ReturnToUser runs on every return to ring 3: it delivers one pending,
// unblocked signal by building its frame and redirecting f to the handler.
//
//go:nosplit
func ReturnToUser(f *amd64.Frame) {
	t := sched.Current()
	deliverable := t.Pending &^ t.SigMask
	if deliverable == 0 {
		return
	}
	sig := 1
	for deliverable&1 == 0 {
		deliverable >>= 1
		sig++
	}
	t.Pending &^= 1 << (sig - 1)
	deliver(t, f, sig)
}

//go:nosplit
func deliver(t *sched.Thread, f *amd64.Frame, sig int) {
	act := &actions[sig]
	switch act.handler {
	case sigIGN:
		if sig != sigSEGV && sig != sigBUS && sig != sigFPE && sig != sigILL {
			return
		}
		fatalSignal(sig, f)
	case sigDFL:
		switch sig {
		case sigCHLD, sigURG, sigWINCH:
			return // ignored by default
		}
		fatalSignal(sig, f)
	}

	sp := uintptr(f.RSP) - 128 // skip the red zone
	onAlt := t.AltSize != 0 && sp >= t.AltSP && sp < t.AltSP+t.AltSize
	if act.flags&saOnstack != 0 && t.AltFlags&ssDisable == 0 && t.AltSize != 0 && !onAlt {
		sp = t.AltSP + t.AltSize
	}
	fpSize, fpRoom := fpImageSize()
	sp = (sp - fpRoom) &^ 63
	fpstate := sp
	sp -= 8 + ucontextSize + siginfoSize
	sp = (sp &^ 15) - 8
	if _, ok := userBytes(sp, fpstate+fpRoom-sp, true); !ok {
		fatalSignal(sig, f) // no room for a frame: as Linux, kill
	}
	uc := sp + 8
	info := uc + ucontextSize

	*(*uint64)(unsafe.Pointer(sp)) = act.restorer
	// ucontext: flags, link, stack_t.
	w := (*[ucontextSize / 8]uint64)(unsafe.Pointer(uc))
	for i := range w {
		w[i] = 0
	}
	w[2] = uint64(t.AltSP)
	altFlags := uint64(t.AltFlags)
	if onAlt || (act.flags&saOnstack != 0 && t.AltSize != 0) {
		altFlags |= ssOnstack
	}
	w[3] = altFlags
	w[4] = uint64(t.AltSize)
	saveContext(w, f, uint64(fpstate))
	w[37] = t.SigMask // uc_sigmask
	// siginfo: signo, errno, code, then the fault address (or sender).
	si := (*[siginfoSize / 8]uint64)(unsafe.Pointer(info))
	for i := range si {
		si[i] = 0
	}
	code := int64(t.SigInfo[sig&31][0])
	si[0] = uint64(uint32(sig)) // si_signo; si_errno = 0
	*(*int32)(unsafe.Pointer(info + 8)) = int32(code)
	if code == siTkill {
		*(*uint32)(unsafe.Pointer(info + 16)) = pid // si_pid, si_uid = 0
	} else {
		si[2] = t.SigInfo[sig&31][1] // si_addr
	}
	copy((*[amd64.FPUAreaSize]byte)(unsafe.Pointer(fpstate))[:fpSize], f.FPU[:fpSize])
	if fpRoom > fpSize {
		sw := (*[4]uint32)(unsafe.Pointer(fpstate + fpxSwBytes))
		sw[0], sw[1] = fpXstateMagic1, uint32(fpRoom)
		*(*uint64)(unsafe.Pointer(fpstate + fpxSwBytes + 8)) = amd64.XsaveMask()
		*(*uint32)(unsafe.Pointer(fpstate + fpxSwBytes + 16)) = uint32(fpSize)
		*(*uint32)(unsafe.Pointer(fpstate + fpSize)) = fpXstateMagic2
		w[0] |= ucFPXstate
	}

	t.SigMask |= act.mask
	if act.flags&saNodefer == 0 {
		t.SigMask |= 1 << (sig - 1)
	}
	if act.flags&saResethand != 0 {
		act.handler = sigDFL
	}
	f.RIP = act.handler
	f.RSP = uint64(sp)
	f.RDI = uint64(sig)
	f.RSI = uint64(info)
	f.RDX = uint64(uc)
	f.RAX = 0
	f.RFLAGS &^= amd64.FlagDF | amd64.FlagTF
	f.CS, f.SS = amd64.UserCS, amd64.UserDS
}

// saveContext fills uc_mcontext (words 5-36 of the ucontext) from f.
//
//go:nosplit
func saveContext(w *[ucontextSize / 8]uint64, f *amd64.Frame, fpstate uint64) {
	m := w[5:37]
	m[0], m[1], m[2], m[3] = f.R8, f.R9, f.R10, f.R11
	m[4], m[5], m[6], m[7] = f.R12, f.R13, f.R14, f.R15
	m[8], m[9], m[10], m[11] = f.RDI, f.RSI, f.RBP, f.RBX
	m[12], m[13], m[14], m[15] = f.RDX, f.RAX, f.RCX, f.RSP
	m[16], m[17] = f.RIP, f.RFLAGS
	m[18] = amd64.UserCS | 0<<16 | 0<<32 | uint64(amd64.UserDS)<<48 // cs, gs, fs, ss
	m[19] = f.ErrCode
	m[20] = f.Vector
	m[21] = 0 // oldmask
	m[22] = 0 // cr2 (the address is in siginfo)
	m[23] = fpstate
}

// sigreturn restores the context saved by deliver from the ucontext at uc
// (the stack pointer of the rt_sigreturn call). The program may have
// changed it: Go's preemption handler rewrites RIP and RSP.
//
//go:nosplit
func sigreturn(t *sched.Thread, f *amd64.Frame, uc uintptr) bool {
	if _, ok := userBytes(uc, ucontextSize, false); !ok {
		return false
	}
	w := (*[ucontextSize / 8]uint64)(unsafe.Pointer(uc))
	m := w[5:37]
	f.R8, f.R9, f.R10, f.R11 = m[0], m[1], m[2], m[3]
	f.R12, f.R13, f.R14, f.R15 = m[4], m[5], m[6], m[7]
	f.RDI, f.RSI, f.RBP, f.RBX = m[8], m[9], m[10], m[11]
	f.RDX, f.RAX, f.RCX, f.RSP = m[12], m[13], m[14], m[15]
	f.RIP = m[16]
	// Only the arithmetic flags, DF, TF and AC are the program's to set.
	const userFlags = 0x0CD5 | amd64.FlagDF | amd64.FlagTF | amd64.FlagAC
	f.RFLAGS = f.RFLAGS&^userFlags | m[17]&userFlags | amd64.FlagIF
	f.CS, f.SS = amd64.UserCS, amd64.UserDS
	if fp := uintptr(m[23]); fp != 0 {
		if !restoreFPU(f, fp) {
			return false
		}
	}
	t.SigMask = w[37] &^ (1<<(sigKILL-1) | 1<<(sigSTOP-1))
	return true
}

// restoreFPU loads the frame's extended state from the signal frame's
// image at fp: a whole XSAVE image if it carries Linux's marks, else the
// legacy 512 bytes (the AVX state then stays as it is). The image is
// sanitized: bad header or MXCSR bits would make the restore fault in the
// kernel.
//
//go:nosplit
func restoreFPU(f *amd64.Frame, fp uintptr) bool {
	b, ok := userBytes(fp, fpstateSize, false)
	if !ok {
		return false
	}
	size, _ := fpImageSize()
	if size > fpstateSize && *(*uint32)(unsafe.Pointer(&b[fpxSwBytes])) == fpXstateMagic1 {
		if b, ok = userBytes(fp, size, false); !ok {
			return false
		}
	} else {
		size = fpstateSize
		if amd64.XsaveMask() != 0 {
			// The legacy part is now the program's: mark x87 and SSE
			// as saved so that XRSTOR loads them.
			*(*uint64)(unsafe.Pointer(&f.FPU[512])) |= 3
		}
	}
	copy(f.FPU[:size], b[:size])
	amd64.SanitizeXsave(uintptr(unsafe.Pointer(&f.FPU)))
	return true
}

// fatalSignal ends the program the way an unhandled signal ends a Linux
// process: the exit status is 128+signal.
//
//go:nosplit
func fatalSignal(sig int, f *amd64.Frame) {
	klog.Str(klog.Prefix)
	klog.Str("program killed by signal ")
	klog.Dec(int64(sig))
	klog.Str(" at rip ")
	klog.Hex(f.RIP)
	klog.Str("\n")
	platform.Exit(128 + sig)
}

// Signals and codes the trap handler posts for faults.
const (
	SigSEGV    = sigSEGV
	SigFPE     = sigFPE
	SigILL     = sigILL
	SigTRAP    = sigTRAP
	SegvMaperr = segvMaperr
	SegvAccerr = segvAccerr
	FpeIntdiv  = fpeIntdiv
	IllIllopn  = illIllopn
)

// PostFault queues a synchronous fault signal for the current thread; it
// is delivered as the trap returns to the program. A fault signal that is
// blocked or ignored cannot be deferred (the instruction would fault
// again), so, as on Linux, it kills the program.
//
//go:nosplit
func PostFault(t *sched.Thread, sig int, code int64, addr uint64) {
	if t.SigMask&(1<<(sig-1)) != 0 || actions[sig].handler == sigIGN {
		klog.Str(klog.Prefix)
		klog.Str("fault with the signal blocked: address ")
		klog.Hex(addr)
		klog.Str("\n")
		platform.Exit(128 + sig)
	}
	Post(t, sig, code, addr)
}
