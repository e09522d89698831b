package linux

import "unsafe"

// The process-start stack, as Linux's execve leaves it and Go's
// _rt0_amd64_linux reads it (System V x86-64 ABI, 3.4.1):
//
//	sp ->  argc
//	       argv[0] ... argv[argc-1], NULL
//	       envp[0] ... NULL
//	       auxv: (AT_PAGESZ, 4096) (AT_RANDOM, &16 random bytes) ... (AT_NULL, 0)
//	       padding
//	       16 random bytes, the argument and environment strings
//	top
//
// The strings come from the kernel command line that `stardust run`
// writes: kernel options, then "--", then the program's arguments. Every
// token is percent-encoded (so arguments may contain spaces); an option
// "env=KEY=VALUE" adds to the environment.

// Auxiliary-vector tags.
const (
	atNull        = 0
	atPhdr        = 3
	atPhent       = 4
	atPhnum       = 5
	atPagesz      = 6
	atEntry       = 9
	atUID         = 11
	atEUID        = 12
	atGID         = 13
	atEGID        = 14
	atHwcap       = 16
	atClktck      = 17
	atSecure      = 23
	atRandom      = 25
	atExecfn      = 31
	atSysinfoEhdr = 33 // the vDSO
)

// StartInfo is what BuildStack needs besides the command line.
type StartInfo struct {
	Random [16]byte
	Phdr   uint64 // the program headers' address, for AT_PHDR
	Phnum  uint64
	Entry  uint64
}

// nextToken returns the token of cmdline starting at or after pos (still
// percent-encoded), whether it is a program argument (it follows "--"),
// and the position after it; tok is nil at the end. Trap-context code
// cannot take callbacks (closures and method values get stack-check
// prologues), hence an iterator.
//
//go:nosplit
func nextToken(cmdline []byte, pos int, isArg bool) (tok []byte, arg bool, next int) {
	for {
		for pos < len(cmdline) && cmdline[pos] == ' ' {
			pos++
		}
		if pos >= len(cmdline) {
			return nil, isArg, pos
		}
		end := pos
		for end < len(cmdline) && cmdline[end] != ' ' {
			end++
		}
		tok = cmdline[pos:end]
		if !isArg && len(tok) == 2 && tok[0] == '-' && tok[1] == '-' {
			isArg = true
			pos = end
			continue
		}
		return tok, isArg, end
	}
}

// decode percent-decodes tok into dst and returns the decoded length
// (dst may be nil to only measure).
//
//go:nosplit
func decode(dst []byte, tok []byte) int {
	n := 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c == '%' && i+2 < len(tok) {
			if h, ok1 := unhex(tok[i+1]); ok1 {
				if l, ok2 := unhex(tok[i+2]); ok2 {
					c = h<<4 | l
					i += 2
				}
			}
		}
		if dst != nil {
			dst[n] = c
		}
		n++
	}
	return n
}

//go:nosplit
func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

//go:nosplit
func isEnvOption(tok []byte) bool {
	return len(tok) > 4 && tok[0] == 'e' && tok[1] == 'n' && tok[2] == 'v' && tok[3] == '='
}

// stackBuilder carries BuildStack's state through the token callbacks
// (a closure would allocate).
type stackBuilder struct {
	mem        []byte  // the stack's memory; mem[len(mem)-1] is at top-1
	top        uintptr // address just past mem
	argc, envc int
	strBytes   int
	strPos     int // next free byte in the string area (offset in mem)
	argv, envp int // offsets in mem of the next argv and envp slot
}

// BuildStack writes the process-start stack into mem, the memory just
// below address top, and returns the initial stack pointer, or 0 if mem
// is too small.
//
//go:nosplit
func BuildStack(mem []byte, top uintptr, cmdline []byte, info *StartInfo) uintptr {
	b := stackBuilder{mem: mem, top: top}
	for tok, isArg, pos := nextToken(cmdline, 0, false); tok != nil; tok, isArg, pos = nextToken(cmdline, pos, isArg) {
		b.count(tok, isArg)
	}
	// Layout from the top down: strings, random bytes, then the vectors.
	const nAux = 13
	strStart := len(mem) - b.strBytes
	randomOff := (strStart - 16) &^ 15
	words := 1 + b.argc + 1 + b.envc + 1 + 2*nAux
	sp := (randomOff - words*8) &^ 15
	if sp < 0 || randomOff < 0 {
		return 0
	}
	copy(mem[randomOff:randomOff+16], info.Random[:])
	b.strPos = strStart
	b.put(sp, uint64(b.argc))
	b.argv = sp + 8
	b.envp = b.argv + 8*(b.argc+1)
	for tok, isArg, pos := nextToken(cmdline, 0, false); tok != nil; tok, isArg, pos = nextToken(cmdline, pos, isArg) {
		b.write(tok, isArg)
	}
	b.put(b.argv, 0)
	b.put(b.envp, 0)
	aux := b.envp + 8
	b.aux(&aux, atPagesz, 4096)
	b.aux(&aux, atRandom, uint64(top)-uint64(len(mem))+uint64(randomOff))
	b.aux(&aux, atPhdr, info.Phdr)
	b.aux(&aux, atPhent, 56)
	b.aux(&aux, atPhnum, info.Phnum)
	b.aux(&aux, atEntry, info.Entry)
	b.aux(&aux, atUID, 0)
	b.aux(&aux, atEUID, 0)
	b.aux(&aux, atGID, 0)
	b.aux(&aux, atEGID, 0)
	b.aux(&aux, atSecure, 0)
	b.aux(&aux, atSysinfoEhdr, vdsoAddr())
	b.aux(&aux, atNull, 0)
	return top - uintptr(len(mem)) + uintptr(sp)
}

//go:nosplit
func (b *stackBuilder) put(off int, v uint64) { *(*uint64)(unsafe.Pointer(&b.mem[off])) = v }

//go:nosplit
func (b *stackBuilder) aux(off *int, tag, val uint64) {
	*(*uint64)(unsafe.Pointer(&b.mem[*off])) = tag
	*(*uint64)(unsafe.Pointer(&b.mem[*off+8])) = val
	*off += 16
}

//go:nosplit
func (b *stackBuilder) count(tok []byte, isArg bool) {
	switch {
	case isArg:
		b.argc++
	case isEnvOption(tok):
		b.envc++
		tok = tok[4:]
	default:
		return
	}
	b.strBytes += decode(nil, tok) + 1
}

//go:nosplit
func (b *stackBuilder) write(tok []byte, isArg bool) {
	var slot *int
	switch {
	case isArg:
		slot = &b.argv
	case isEnvOption(tok):
		slot = &b.envp
		tok = tok[4:]
	default:
		return
	}
	n := decode(b.mem[b.strPos:], tok)
	b.mem[b.strPos+n] = 0
	addr := uint64(b.top) - uint64(len(b.mem)) + uint64(b.strPos)
	*(*uint64)(unsafe.Pointer(&b.mem[*slot])) = addr
	*slot += 8
	b.strPos += n + 1
}

// HasOption reports whether the kernel options (the command line before
// "--") include the bare word name.
//
//go:nosplit
func HasOption(cmdline []byte, name string) bool {
	for tok, isArg, pos := nextToken(cmdline, 0, false); tok != nil && !isArg; tok, isArg, pos = nextToken(cmdline, pos, isArg) {
		if string(tok) == name {
			return true
		}
	}
	return false
}
