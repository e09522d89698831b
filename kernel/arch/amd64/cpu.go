package amd64

// Port I/O.
func Outb(port uint16, val uint8)
func Inb(port uint16) uint8
func Outw(port uint16, val uint16)
func Inw(port uint16) uint16
func Outl(port uint16, val uint32)
func Inl(port uint16) uint32

// Model-specific registers.
func Rdmsr(msr uint32) uint64
func Wrmsr(msr uint32, val uint64)

const (
	MsrEFER         = 0xC0000080
	MsrSTAR         = 0xC0000081
	MsrLSTAR        = 0xC0000082
	MsrSFMASK       = 0xC0000084
	MsrFSBase       = 0xC0000100
	MsrGSBase       = 0xC0000101
	MsrKernelGSBase = 0xC0000102
	MsrAPICBase     = 0x1B
	MsrTSCAux       = 0xC0000103
)

// Cpuid executes CPUID with EAX = leaf and ECX = sub.
func Cpuid(leaf, sub uint32) (a, b, c, d uint32)

// Rdtsc reads the time-stamp counter (after LFENCE, so it is ordered after
// earlier loads).
func Rdtsc() uint64

// Rdrand returns a hardware random number; ok is false if the CPU had none
// to give after ten tries (or if there is no RDRAND: check CPUID first).
func Rdrand() (v uint64, ok bool)

// Control registers and the TLB.
func ReadCR0() uint64
func WriteCR0(v uint64)
func ReadCR2() uint64
func ReadCR3() uint64
func WriteCR3(v uint64)
func ReadCR4() uint64
func WriteCR4(v uint64)
func Invlpg(va uintptr)

// Descriptor tables. p points at a 10-byte {limit uint16; base uint64}.
func Lgdt(p uintptr)
func Lidt(p uintptr)
func Ltr(sel uint16)
func ReloadSegments()

// Interrupts and idling.
func Hlt()
func WaitForInterrupt()
func Cli()
func Pause()

// FPU/SSE state.
func Fxsave(p uintptr)
func Fninit()
func Mfence()
func Ldmxcsr(v uint32)

// Swtch saves the current kernel stack pointer in *save and continues on
// the kernel stack next (see trap_amd64.s).
func Swtch(save *uintptr, next uintptr)

// trapReturn is the assembly that restores a Frame and returns with IRETQ.
func trapReturn()

// vectorStubs is the table of 256 16-byte interrupt entry stubs.
func vectorStubs()

// syscallEntry is the SYSCALL entry point (IA32_LSTAR).
func syscallEntry()

// pvhEntry is the 32-bit PVH entry point; the image writer finds it by name.
func pvhEntry()

func entryAddrs() (pvh, vectors, syscall, trapret uintptr)
