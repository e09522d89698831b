#include "textflag.h"

// vdsoClockGettime is clock_gettime(clockid, *timespec) for the vDSO, with
// the C calling convention the runtime uses for vDSO calls (DI = clock,
// SI = timespec, result in AX; it may clobber AX, CX, DX, SI, DI, R8-R11).
// It runs in ring 3 on the caller's stack and touches no other memory.
// Clocks other than the realtime and monotonic families go to the kernel.
//
// ns = hi>>(22-20) + lo with hi = (d>>20)*Mult and lo = ((d&(1<<20-1))*Mult)>>22
// (d = tsc - TSCBase), which is (d*Mult)>>22 without overflowing 64 bits;
// it matches clock.Nanotime exactly.
TEXT ·vdsoClockGettime(SB),NOSPLIT|NOFRAME,$0-0
	CMPQ	·VDSOClock+24(SB), $0	// Ready
	JEQ	kernel
	XORQ	R8, R8
	CMPQ	DI, $1	// CLOCK_MONOTONIC
	JEQ	now
	CMPQ	DI, $4	// CLOCK_MONOTONIC_RAW
	JEQ	now
	CMPQ	DI, $6	// CLOCK_MONOTONIC_COARSE
	JEQ	now
	CMPQ	DI, $7	// CLOCK_BOOTTIME
	JEQ	now
	MOVQ	·VDSOClock+16(SB), R8	// Wall
	CMPQ	DI, $0	// CLOCK_REALTIME
	JEQ	now
	CMPQ	DI, $5	// CLOCK_REALTIME_COARSE
	JEQ	now
	JMP	kernel
now:
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	SUBQ	·VDSOClock+0(SB), AX	// d
	MOVQ	·VDSOClock+8(SB), R9	// Mult
	MOVQ	AX, R10
	SHRQ	$20, R10
	IMULQ	R9, R10
	SHRQ	$2, R10	// hi >> (22-20)
	ANDQ	$0xFFFFF, AX
	IMULQ	R9, AX
	SHRQ	$22, AX	// lo
	ADDQ	R10, AX
	ADDQ	R8, AX	// ns
	XORQ	DX, DX
	MOVQ	$1000000000, R9
	DIVQ	R9	// AX = seconds, DX = nanoseconds
	MOVQ	AX, 0(SI)
	MOVQ	DX, 8(SI)
	XORQ	AX, AX
	RET
kernel:
	MOVQ	$228, AX	// SYS_clock_gettime
	SYSCALL
	RET

// func VDSOClockGettimePC() uintptr
TEXT ·VDSOClockGettimePC(SB),NOSPLIT,$0-8
	LEAQ	·vdsoClockGettime(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
