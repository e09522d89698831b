#include "textflag.h"

// Every interrupt, exception and system call builds the same Frame (see
// frame.go) on the current thread's kernel stack:
//
//   high  SS, RSP, RFLAGS, CS, RIP   pushed by the CPU (or by syscallEntry)
//         error code                 pushed by the CPU, or 0 by the stub
//         vector                     pushed by the stub (256 = system call)
//         RAX ... R15                pushed by trapcommon
//   low   1024-byte FPU area         the program's XSAVE (or FXSAVE) image
//
// The CPU aligns RSP to 16 before pushing, and 176 bytes of registers keep
// it aligned, as FXSAVE requires; traps from ring 3 arrive at a stack top
// placed so that the FPU area is 64-byte aligned, as XSAVE requires (see
// KernelStackPad). The Go handler may use SSE registers freely because
// the program's are saved here first.

// Each vector stub is exactly 16 bytes, so the IDT can be filled with
// vectorStubs + 16*n. Vectors where the CPU pushes an error code replace the
// "push 0" with two NOPs.
#define STUB(n) BYTE $0x6A; BYTE $0x00; BYTE $0x68; LONG $(n); JMP trapcommon<>(SB); BYTE $0x90; BYTE $0x90; BYTE $0x90; BYTE $0x90
#define STUBE(n) BYTE $0x90; BYTE $0x90; BYTE $0x68; LONG $(n); JMP trapcommon<>(SB); BYTE $0x90; BYTE $0x90; BYTE $0x90; BYTE $0x90
#define STUB8(b) STUB(b+0); STUB(b+1); STUB(b+2); STUB(b+3); STUB(b+4); STUB(b+5); STUB(b+6); STUB(b+7)
#define STUB32(b) STUB8(b); STUB8(b+8); STUB8(b+16); STUB8(b+24)

TEXT ·vectorStubs(SB), NOSPLIT|NOFRAME, $0
	STUB(0); STUB(1); STUB(2); STUB(3); STUB(4); STUB(5); STUB(6); STUB(7)
	STUBE(8); STUB(9); STUBE(10); STUBE(11); STUBE(12); STUBE(13); STUBE(14); STUB(15)
	STUB(16); STUBE(17); STUB(18); STUB(19); STUB(20); STUBE(21); STUB(22); STUB(23)
	STUB(24); STUB(25); STUB(26); STUB(27); STUB(28); STUBE(29); STUBE(30); STUB(31)
	STUB32(32); STUB32(64); STUB32(96); STUB32(128); STUB32(160); STUB32(192); STUB32(224)

TEXT trapcommon<>(SB), NOSPLIT|NOFRAME, $0
	PUSHQ AX
	PUSHQ BX
	PUSHQ CX
	PUSHQ DX
	PUSHQ SI
	PUSHQ DI
	PUSHQ BP
	PUSHQ R8
	PUSHQ R9
	PUSHQ R10
	PUSHQ R11
	PUSHQ R12
	PUSHQ R13
	PUSHQ R14
	PUSHQ R15
	// Coming from ring 3, FS is the program's TLS register. Go code in the
	// kernel reads g from FS:-8 (in ABI wrappers), so switch FS to this
	// CPU's kernel TLS block (CPUBlock.KernelFS).
	MOVQ 144(SP), AX // the saved CS
	TESTQ $3, AX
	JZ fskernel
	MOVL $0xC0000100, CX // IA32_FS_BASE
	MOVQ 24(GS), AX
	MOVQ AX, DX
	SHRQ $32, DX
	WRMSR
fskernel:
	// The extended state (see fpu.go): XSAVE for ring 3 when it is on,
	// with the header's reserved bytes zeroed first (XSAVE writes only
	// XSTATE_BV, and XRSTOR faults on stale bytes); FXSAVE otherwise.
	SUBQ $1024, SP // FPUAreaSize
	MOVQ 1168(SP), AX // the saved CS
	TESTQ $3, AX
	JZ fxsave
	MOVQ ·xsaveMask(SB), AX
	TESTQ AX, AX
	JZ fxsave
	MOVQ $0, 520(SP)
	MOVQ $0, 528(SP)
	MOVQ $0, 536(SP)
	MOVQ $0, 544(SP)
	MOVQ $0, 552(SP)
	MOVQ $0, 560(SP)
	MOVQ $0, 568(SP)
	MOVQ AX, DX
	SHRQ $32, DX
	XSAVE64 (SP)
	JMP saved
fxsave:
	FXSAVE64 (SP)
saved:
	CLD
	MOVQ SP, AX
	SUBQ $16, SP
	MOVQ AX, 0(SP)
	MOVQ $0, BP // end of the frame-pointer chain for backtraces
	CALL ·trapGo(SB)
	ADDQ $16, SP
	JMP ·trapReturn(SB)

// trapReturn restores the Frame at SP and returns to where the trap came
// from. A new thread's kernel stack is prepared so that its first switch
// "returns" here (see Swtch).
TEXT ·trapReturn(SB), NOSPLIT|NOFRAME, $0
	MOVQ 1168(SP), AX // the saved CS
	TESTQ $3, AX
	JZ fxrstor
	MOVQ ·xsaveMask(SB), AX
	TESTQ AX, AX
	JZ fxrstor
	MOVQ AX, DX
	SHRQ $32, DX
	XRSTOR64 (SP)
	JMP restored
fxrstor:
	FXRSTOR64 (SP)
restored:
	ADDQ $1024, SP
	// Returning to ring 3: restore the program's FS (CPUBlock.UserFS, the
	// running thread's TLS base). AX, CX and DX are reloaded below.
	MOVQ 144(SP), AX
	TESTQ $3, AX
	JZ fsdone
	MOVL $0xC0000100, CX
	MOVQ 32(GS), AX
	MOVQ AX, DX
	SHRQ $32, DX
	WRMSR
fsdone:
	POPQ R15
	POPQ R14
	POPQ R13
	POPQ R12
	POPQ R11
	POPQ R10
	POPQ R9
	POPQ R8
	POPQ BP
	POPQ DI
	POPQ SI
	POPQ DX
	POPQ CX
	POPQ BX
	POPQ AX
	ADDQ $16, SP // vector and error code
	IRETQ

// SYSCALL arrives here in ring 0 with RCX = user RIP, R11 = user RFLAGS,
// interrupts masked by SFMASK and RSP still the program's. GS points at
// this CPU's CPU block (the program never uses GS on linux/amd64), whose
// word 1 is scratch and word 2 the current thread's kernel stack top.
// The frame is built to look like an interrupt from ring 3, so one return
// path (IRETQ) serves both.
TEXT ·syscallEntry(SB), NOSPLIT|NOFRAME, $0
	MOVQ SP, 8(GS)
	MOVQ 16(GS), SP
	PUSHQ $0x1b // user SS
	PUSHQ 8(GS) // user RSP
	PUSHQ R11   // user RFLAGS
	PUSHQ $0x23 // user CS
	PUSHQ CX    // user RIP
	PUSHQ $0
	PUSHQ $256
	JMP trapcommon<>(SB)

// func Swtch(save *uintptr, next uintptr)
// saves the current kernel stack pointer in *save and continues on the
// kernel stack next, which was saved by an earlier Swtch (or prepared by
// the scheduler for a new thread). Go's ABI has no callee-saved registers
// besides the frame pointer, so BP is all that needs saving.
TEXT ·Swtch(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ save+0(FP), AX
	MOVQ next+8(FP), BX
	PUSHQ BP
	MOVQ SP, (AX)
	MOVQ BX, SP
	POPQ BP
	RET
