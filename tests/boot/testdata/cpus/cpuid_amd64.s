#include "textflag.h"

// func apicID() uint32: CPUID leaf 1, EBX bits 31-24, the initial APIC ID
// of the CPU this instruction ran on (CPUID works in ring 3).
TEXT ·apicID(SB), NOSPLIT, $0-4
	MOVL $1, AX
	MOVL $0, CX
	CPUID
	SHRL $24, BX
	MOVL BX, ret+0(FP)
	RET
