#include "textflag.h"

// The PVH boot protocol enters here in 32-bit protected mode with paging off,
// flat 4 GiB segments and EBX = the physical address of hvm_start_info.
// The image writer points the ELF note XEN_ELFNOTE_PHYS32_ENTRY at this
// symbol; the program is linked (and loaded by QEMU) at physical = virtual
// addresses below 1 GiB, so this address is valid in both modes.
//
// The Go assembler only emits 64-bit code, so the 32-bit part is written as
// machine code bytes, each line with its meaning. It uses no symbol addresses
// (they would be RIP-relative) and keeps its scratch data at fixed low
// physical addresses that no boot protocol uses (0x10000-0x13fff):
//   0x10000 PML4, 0x11000 PDPT, 0x12000 PD (512 x 2 MiB = first 1 GiB),
//   0x13000 a 3-entry GDT, 0x13020 its GDTR.
TEXT ·pvhEntry(SB), NOSPLIT|NOFRAME, $0
	BYTE $0xBC; LONG $0x0000F000 // mov esp, 0xF000         ; a scratch stack in free low memory
	BYTE $0x89; BYTE $0xDE       // mov esi, ebx            ; keep hvm_start_info in ESI

	BYTE $0xBF; LONG $0x00010000 // mov edi, 0x10000        ; zero the three page-table pages
	BYTE $0x31; BYTE $0xC0       // xor eax, eax
	BYTE $0xB9; LONG $0x00000C00 // mov ecx, 3072 (dwords)
	BYTE $0xF3; BYTE $0xAB       // rep stosd

	BYTE $0xC7; BYTE $0x05; LONG $0x00010000; LONG $0x00011003 // mov [PML4+0], PDPT|present|writable
	BYTE $0xC7; BYTE $0x05; LONG $0x00011000; LONG $0x00012003 // mov [PDPT+0], PD|present|writable

	BYTE $0xBF; LONG $0x00012000 // mov edi, PD
	BYTE $0xB8; LONG $0x00000083 // mov eax, 0x83           ; 2 MiB page|present|writable, at 0
	BYTE $0xB9; LONG $0x00000200 // mov ecx, 512
	BYTE $0x89; BYTE $0x07       // loop: mov [edi], eax
	BYTE $0x05; LONG $0x00200000 //       add eax, 2 MiB
	BYTE $0x83; BYTE $0xC7; BYTE $0x08 // add edi, 8
	BYTE $0x49                   //       dec ecx
	BYTE $0x75; BYTE $0xF3       //       jnz loop (-13 bytes)

	// GDT: null, 0x08 = 64-bit code, 0x10 = data. GDTR = {limit 23, base 0x13000}.
	BYTE $0xC7; BYTE $0x05; LONG $0x00013000; LONG $0x00000000
	BYTE $0xC7; BYTE $0x05; LONG $0x00013004; LONG $0x00000000
	BYTE $0xC7; BYTE $0x05; LONG $0x00013008; LONG $0x0000FFFF
	BYTE $0xC7; BYTE $0x05; LONG $0x0001300C; LONG $0x00AF9A00 // code: present, DPL0, exec/read, L=1
	BYTE $0xC7; BYTE $0x05; LONG $0x00013010; LONG $0x0000FFFF
	BYTE $0xC7; BYTE $0x05; LONG $0x00013014; LONG $0x00CF9200 // data: present, DPL0, read/write
	BYTE $0xC7; BYTE $0x05; LONG $0x00013020; LONG $0x30000017 // limit 0x17, base[15:0] 0x3000
	BYTE $0xC7; BYTE $0x05; LONG $0x00013024; LONG $0x00000001 // base[31:16] 0x0001
	BYTE $0x0F; BYTE $0x01; BYTE $0x15; LONG $0x00013020 // lgdt [0x13020]

	BYTE $0x0F; BYTE $0x20; BYTE $0xE0 // mov eax, cr4
	BYTE $0x83; BYTE $0xC8; BYTE $0x20 // or eax, CR4.PAE
	BYTE $0x0F; BYTE $0x22; BYTE $0xE0 // mov cr4, eax
	BYTE $0xB8; LONG $0x00010000       // mov eax, PML4
	BYTE $0x0F; BYTE $0x22; BYTE $0xD8 // mov cr3, eax
	BYTE $0xB9; LONG $0xC0000080       // mov ecx, IA32_EFER
	BYTE $0x0F; BYTE $0x32             // rdmsr
	BYTE $0x0D; LONG $0x00000901       // or eax, LME|NXE|SCE
	BYTE $0x0F; BYTE $0x30             // wrmsr
	BYTE $0x0F; BYTE $0x20; BYTE $0xC0 // mov eax, cr0
	BYTE $0x0D; LONG $0x80010001       // or eax, PG|WP|PE      ; long mode is now active
	BYTE $0x0F; BYTE $0x22; BYTE $0xC0 // mov cr0, eax

	// A far return loads the 64-bit code segment. Its target is the
	// instruction right after RETF; call/pop finds our own address.
	BYTE $0xE8; LONG $0x00000000 // call next
	BYTE $0x5D                   // next: pop ebp
	BYTE $0x8D; BYTE $0x45; BYTE $0x08 // lea eax, [ebp+8]     ; = the first 64-bit instruction
	BYTE $0x6A; BYTE $0x08       // push 0x08               ; code selector
	BYTE $0x50                   // push eax
	BYTE $0xCB                   // retf

	// 64-bit mode from here on.
	MOVL $0x10, AX
	MOVW AX, DS
	MOVW AX, ES
	MOVW AX, SS
	MOVL $0, AX
	MOVW AX, FS
	MOVW AX, GS
	MOVL SI, SI // zero-extend hvm_start_info's address

	// Go code uses SSE everywhere (even the ABI wrappers zero X15), so
	// enable it before the first call: CR0.MP on, CR0.EM off,
	// CR4.OSFXSR and CR4.OSXMMEXCPT on.
	MOVQ CR0, AX
	ANDQ $~4, AX
	ORQ $2, AX
	MOVQ AX, CR0
	MOVQ CR4, AX
	ORQ $0x600, AX
	MOVQ AX, CR4
	LEAQ ·bootStack+65536(SB), SP

	// Go's ABI wrappers load g from FS:-8, so FS must point at readable
	// memory before any Go code runs. The boot "g" is a zeroed block: its
	// stack guard 0 means a stray stack check passes instead of faulting.
	LEAQ ·bootG(SB), AX
	MOVQ AX, ·bootTLS(SB)
	LEAQ ·bootTLS+8(SB), AX
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $0xC0000100, CX // IA32_FS_BASE
	WRMSR

	SUBQ $16, SP
	MOVQ SI, 0(SP)
	CALL ·boot64(SB)
halt:
	CLI
	HLT
	JMP halt

// The stack the boot CPU runs kernelMain on, until the first thread starts.
GLOBL ·bootStack(SB), NOPTR, $65536
GLOBL ·bootTLS(SB), NOPTR, $64
GLOBL ·bootG(SB), NOPTR, $512
