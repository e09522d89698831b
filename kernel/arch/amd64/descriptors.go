package amd64

import "unsafe"

// Tables holds one CPU's descriptor tables. The kernel allocates it in
// supervisor-only memory (so the program cannot rewrite its own privileges)
// and passes its address to InitCPU.
type Tables struct {
	GDT  [7]uint64      // null, kernel code, kernel data, user data, user code, TSS (2 slots)
	_    uint64         // keep the TSS 16-byte aligned
	TSS  [104]byte      // 64-bit task-state segment
	_    [8]byte        //
	IDT  [256][2]uint64 // 16-byte interrupt gates
	Desc [2][10]byte    // scratch {limit, base} operands for LGDT and LIDT
}

// TablesSize is how much memory InitCPU needs.
const TablesSize = unsafe.Sizeof(Tables{})

// CPUBlock is the start of every CPU's per-CPU data, which GS points at.
// The assembly uses these words by offset, so their order is fixed.
type CPUBlock struct {
	Self           uintptr // the block's own address
	Scratch        uintptr // the program's RSP during SYSCALL entry
	KernelStackTop uintptr // top of the running thread's kernel stack
	KernelFS       uintptr // FS base while in the kernel (a TLS block whose g is a dummy)
	UserFS         uintptr // FS base to return to ring 3 with (the thread's TLS)
	Index          uintptr // the CPU's number (0 = the boot CPU)
	APICID         uint32
}

// InitCPU builds and loads this CPU's GDT, TSS and IDT, enables SYSCALL and
// the FPU/SSE, and points GS at cpu. ist1 is the top of a stack used for
// double faults and NMIs, which must work even when the kernel stack is bad.
//
//go:nosplit
func InitCPU(t *Tables, cpu *CPUBlock, ist1 uintptr) {
	_, vectors, syscall, _ := entryAddrs()

	t.GDT[0] = 0
	t.GDT[1] = 0x00AF9A000000FFFF // kernel code: present, DPL 0, 64-bit
	t.GDT[2] = 0x00CF92000000FFFF // kernel data
	t.GDT[3] = 0x00CFF2000000FFFF // user data: DPL 3
	t.GDT[4] = 0x00AFFA000000FFFF // user code: DPL 3, 64-bit
	tss := uint64(uintptr(unsafe.Pointer(&t.TSS)))
	limit := uint64(len(t.TSS) - 1)
	t.GDT[5] = limit | (tss&0xFFFFFF)<<16 | 0x89<<40 | (tss>>24&0xFF)<<56 // available 64-bit TSS
	t.GDT[6] = tss >> 32
	for i := range t.TSS {
		t.TSS[i] = 0
	}
	*(*uint64)(unsafe.Pointer(&t.TSS[36])) = uint64(ist1) // IST1
	*(*uint16)(unsafe.Pointer(&t.TSS[102])) = 104         // no I/O permission bitmap

	for v := 0; v < 256; v++ {
		h := uint64(vectors) + uint64(v)*16
		ist := uint64(0)
		if v == VecDoubleFault || v == VecNMI {
			ist = 1
		}
		// Interrupt gate (type 0xE, IF cleared on entry), present, DPL 0.
		t.IDT[v][0] = h&0xFFFF | KernelCS<<16 | ist<<32 | 0x8E<<40 | (h>>16&0xFFFF)<<48
		t.IDT[v][1] = h >> 32
	}

	loadTable(&t.Desc[0], uintptr(unsafe.Pointer(&t.GDT)), uint16(len(t.GDT)*8-1))
	Lgdt(uintptr(unsafe.Pointer(&t.Desc[0])))
	ReloadSegments()
	Ltr(TSSSel)
	loadTable(&t.Desc[1], uintptr(unsafe.Pointer(&t.IDT)), uint16(len(t.IDT)*16-1))
	Lidt(uintptr(unsafe.Pointer(&t.Desc[1])))

	// SYSCALL: kernel CS/SS from STAR[47:32], entry at LSTAR, and RFLAGS
	// bits to clear on entry (IF, TF, DF, AC, NT, IOPL), as Linux does.
	Wrmsr(MsrEFER, Rdmsr(MsrEFER)|1|1<<11) // SCE, NXE
	Wrmsr(MsrSTAR, uint64(KernelCS)<<32|uint64(UserDS&^3-8)<<48)
	Wrmsr(MsrLSTAR, uint64(syscall))
	Wrmsr(MsrSFMASK, FlagIF|FlagTF|FlagDF|FlagAC|FlagNT|FlagIOPL)

	cpu.Self = uintptr(unsafe.Pointer(cpu))
	cpu.APICID = APICID()
	if cpu.KernelFS == 0 {
		cpu.KernelFS = uintptr(Rdmsr(MsrFSBase)) // the boot TLS block set by pvhEntry
	}
	Wrmsr(MsrGSBase, uint64(cpu.Self))
	Wrmsr(MsrKernelGSBase, 0)

	setupFPU() // see fpu.go
}

//go:nosplit
func loadTable(d *[10]byte, base uintptr, limit uint16) {
	*(*uint16)(unsafe.Pointer(&d[0])) = limit
	*(*uint64)(unsafe.Pointer(&d[2])) = uint64(base)
}

// SetKernelStack makes top the stack that traps from ring 3 arrive on
// (TSS.RSP0) and that SYSCALL switches to.
//
//go:nosplit
func SetKernelStack(t *Tables, cpu *CPUBlock, top uintptr) {
	*(*uint64)(unsafe.Pointer(&t.TSS[4])) = uint64(top)
	cpu.KernelStackTop = top
}

// TrapReturnPC is where a new thread's first Swtch returns to.
//
//go:nosplit
func TrapReturnPC() uintptr {
	_, _, _, r := entryAddrs()
	return r
}

// PVHEntryPC is the PVH entry point's address.
//
//go:nosplit
func PVHEntryPC() uintptr {
	p, _, _, _ := entryAddrs()
	return p
}
