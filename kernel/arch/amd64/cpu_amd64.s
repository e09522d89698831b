#include "textflag.h"

// One-instruction helpers. Their Go declarations and documentation are in cpu.go.

TEXT ·Outb(SB), NOSPLIT, $0-3
	MOVW port+0(FP), DX
	MOVB val+2(FP), AX
	OUTB
	RET

TEXT ·Inb(SB), NOSPLIT, $0-9
	MOVW port+0(FP), DX
	INB
	MOVB AX, ret+8(FP)
	RET

TEXT ·Outl(SB), NOSPLIT, $0-8
	MOVW port+0(FP), DX
	MOVL val+4(FP), AX
	OUTL
	RET

TEXT ·Inl(SB), NOSPLIT, $0-12
	MOVW port+0(FP), DX
	INL
	MOVL AX, ret+8(FP)
	RET

TEXT ·Outw(SB), NOSPLIT, $0-4
	MOVW port+0(FP), DX
	MOVW val+2(FP), AX
	OUTW
	RET

TEXT ·Inw(SB), NOSPLIT, $0-10
	MOVW port+0(FP), DX
	INW
	MOVW AX, ret+8(FP)
	RET

TEXT ·Rdmsr(SB), NOSPLIT, $0-16
	MOVL msr+0(FP), CX
	RDMSR
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+8(FP)
	RET

TEXT ·Wrmsr(SB), NOSPLIT, $0-16
	MOVL msr+0(FP), CX
	MOVQ val+8(FP), AX
	MOVQ AX, DX
	SHRQ $32, DX
	WRMSR
	RET

TEXT ·Cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET

TEXT ·Rdtsc(SB), NOSPLIT, $0-8
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func Rdrand() (v uint64, ok bool)
TEXT ·Rdrand(SB), NOSPLIT, $0-9
	MOVL $10, CX
retry:
	RDRANDQ AX
	JCS done
	DECL CX
	JNZ retry
	MOVQ $0, v+0(FP)
	MOVB $0, ok+8(FP)
	RET
done:
	MOVQ AX, v+0(FP)
	MOVB $1, ok+8(FP)
	RET

TEXT ·ReadCR2(SB), NOSPLIT, $0-8
	MOVQ CR2, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·ReadCR3(SB), NOSPLIT, $0-8
	MOVQ CR3, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·WriteCR3(SB), NOSPLIT, $0-8
	MOVQ v+0(FP), AX
	MOVQ AX, CR3
	RET

TEXT ·ReadCR0(SB), NOSPLIT, $0-8
	MOVQ CR0, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·WriteCR0(SB), NOSPLIT, $0-8
	MOVQ v+0(FP), AX
	MOVQ AX, CR0
	RET

TEXT ·ReadCR4(SB), NOSPLIT, $0-8
	MOVQ CR4, AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·WriteCR4(SB), NOSPLIT, $0-8
	MOVQ v+0(FP), AX
	MOVQ AX, CR4
	RET

TEXT ·Invlpg(SB), NOSPLIT, $0-8
	MOVQ va+0(FP), AX
	INVLPG (AX)
	RET

TEXT ·Lgdt(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	LGDT (AX)
	RET

TEXT ·Lidt(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	LIDT (AX)
	RET

TEXT ·Ltr(SB), NOSPLIT, $0-2
	MOVW sel+0(FP), AX
	LTR AX
	RET

// func ReloadSegments() loads the kernel's code and data selectors from
// the new GDT (CS needs a far return).
TEXT ·ReloadSegments(SB), NOSPLIT|NOFRAME, $0
	MOVL $0x10, AX
	MOVW AX, DS
	MOVW AX, ES
	MOVW AX, SS
	MOVQ 0(SP), AX // our return address
	ADDQ $8, SP
	PUSHQ $0x08
	PUSHQ AX
	BYTE $0x48; BYTE $0xCB // retfq

TEXT ·Hlt(SB), NOSPLIT, $0
	HLT
	RET

// func WaitForInterrupt() enables interrupts and halts in one step (STI
// takes effect after the next instruction, so no interrupt is lost between
// them), then disables interrupts again.
TEXT ·WaitForInterrupt(SB), NOSPLIT, $0
	STI
	HLT
	CLI
	RET

TEXT ·Cli(SB), NOSPLIT, $0
	CLI
	RET

TEXT ·Pause(SB), NOSPLIT, $0
	PAUSE
	RET

TEXT ·Fxsave(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	FXSAVE64 (AX)
	RET

// func Xsetbv(reg uint32, v uint64)
TEXT ·Xsetbv(SB), NOSPLIT, $0-16
	MOVL reg+0(FP), CX
	MOVQ v+8(FP), AX
	MOVQ AX, DX
	SHRQ $32, DX
	XSETBV
	RET

// func Xsave(p uintptr, mask uint64)
TEXT ·Xsave(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), DI
	MOVQ mask+8(FP), AX
	MOVQ AX, DX
	SHRQ $32, DX
	XSAVE64 (DI)
	RET

TEXT ·Mfence(SB), NOSPLIT, $0
	MFENCE
	RET

TEXT ·Fninit(SB), NOSPLIT, $0
	BYTE $0xDB; BYTE $0xE3 // fninit
	RET

// func Ldmxcsr(v uint32)
TEXT ·Ldmxcsr(SB), NOSPLIT, $0-4
	LDMXCSR v+0(FP)
	RET

// func entryAddrs() (pvh, vectors, syscall, trapret uintptr)
// returns the addresses of the assembly entry points. (A Go func value of an
// assembly function would point at its ABI wrapper, not at the code itself.)
TEXT ·entryAddrs(SB), NOSPLIT, $0-32
	LEAQ ·pvhEntry(SB), AX
	MOVQ AX, pvh+0(FP)
	LEAQ ·vectorStubs(SB), AX
	MOVQ AX, vectors+8(FP)
	LEAQ ·syscallEntry(SB), AX
	MOVQ AX, syscall+16(FP)
	LEAQ ·trapReturn(SB), AX
	MOVQ AX, trapret+24(FP)
	RET

// func CPUSelf() uintptr: the running CPU's CPUBlock (GS:0).
TEXT ·CPUSelf(SB), NOSPLIT, $0-8
	MOVQ 0(GS), AX
	MOVQ AX, ret+0(FP)
	RET

// func spinWindow() lets pending interrupts in for a moment while
// spinning for the kernel lock (see Lock), so that a TLB shootdown or a
// wake-up IPI aimed at this CPU is not stuck behind the lock's holder.
TEXT ·spinWindow(SB), NOSPLIT, $0
	STI
	PAUSE
	CLI
	RET

// threadStart is where a new thread's first Swtch returns: it releases
// the kernel lock its creator's CPU held across the switch, then returns
// to ring 3 through the thread's Frame.
TEXT ·threadStart(SB), NOSPLIT|NOFRAME, $0
	CALL ·Unlock(SB)
	JMP ·trapReturn(SB)

// apEntry is where an application processor arrives from the real-mode
// trampoline, in 64-bit mode on its own stack, with the kernel's page
// tables. SI holds its kernel TLS block (for FS), DI its index.
TEXT ·apEntry(SB), NOSPLIT|NOFRAME, $0
	MOVQ SI, AX
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $0xC0000100, CX // IA32_FS_BASE
	WRMSR
	SUBQ $16, SP
	MOVQ DI, 0(SP)
	CALL ·apGo(SB)
aphalt:
	CLI
	HLT
	JMP aphalt

// func apEntryPC() uintptr
TEXT ·apEntryPC(SB), NOSPLIT, $0-8
	LEAQ ·apEntry(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func threadStartPC() uintptr
TEXT ·threadStartPC(SB), NOSPLIT, $0-8
	LEAQ ·threadStart(SB), AX
	MOVQ AX, ret+0(FP)
	RET

TEXT ·ReloadCR3(SB), NOSPLIT, $0
	MOVQ CR3, AX
	MOVQ AX, CR3
	RET
