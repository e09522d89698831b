package linux

import (
	"encoding/binary"
	"testing"
)

// readStack decodes a process-start stack the way a C runtime would.
func readStack(t *testing.T, mem []byte, top, sp uintptr) (argv, envp []string, aux map[uint64]uint64) {
	t.Helper()
	base := top - uintptr(len(mem))
	word := func(a uintptr) uint64 { return binary.LittleEndian.Uint64(mem[a-base:]) }
	str := func(a uint64) string {
		off := uintptr(a) - base
		end := off
		for mem[end] != 0 {
			end++
		}
		return string(mem[off:end])
	}
	if sp%16 != 0 {
		t.Fatalf("sp %#x not 16-byte aligned", sp)
	}
	argc := int(word(sp))
	p := sp + 8
	for i := 0; i < argc; i++ {
		argv = append(argv, str(word(p)))
		p += 8
	}
	if word(p) != 0 {
		t.Fatal("argv not NULL-terminated")
	}
	p += 8
	for word(p) != 0 {
		envp = append(envp, str(word(p)))
		p += 8
	}
	p += 8
	aux = map[uint64]uint64{}
	for {
		k, v := word(p), word(p+8)
		p += 16
		if k == atNull {
			break
		}
		aux[k] = v
	}
	return
}

func TestBuildStack(t *testing.T) {
	mem := make([]byte, 8192)
	const top = 0x7fff_0000_0000
	info := &StartInfo{Random: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Entry: 0x401000}
	cmd := []byte("quiet env=HOME=/ env=GREETING=hello%20world  -- hello a%25b %2D%2D -- last")
	sp := BuildStack(mem, top, cmd, info)
	if sp == 0 {
		t.Fatal("BuildStack failed")
	}
	argv, envp, aux := readStack(t, mem, top, sp)
	wantArgv := []string{"hello", "a%b", "--", "--", "last"}
	if len(argv) != len(wantArgv) {
		t.Fatalf("argv = %q, want %q", argv, wantArgv)
	}
	for i := range argv {
		if argv[i] != wantArgv[i] {
			t.Fatalf("argv = %q, want %q", argv, wantArgv)
		}
	}
	if len(envp) != 2 || envp[0] != "HOME=/" || envp[1] != "GREETING=hello world" {
		t.Fatalf("envp = %q", envp)
	}
	if aux[atPagesz] != 4096 {
		t.Fatalf("AT_PAGESZ = %d", aux[atPagesz])
	}
	r := uintptr(aux[atRandom]) - (top - uintptr(len(mem)))
	if string(mem[r:r+16]) != string(info.Random[:]) {
		t.Fatal("AT_RANDOM does not point at the random bytes")
	}
	if aux[atEntry] != 0x401000 {
		t.Fatalf("AT_ENTRY = %#x", aux[atEntry])
	}
}

func TestBuildStackTooSmall(t *testing.T) {
	mem := make([]byte, 64)
	if sp := BuildStack(mem, 0x10000, []byte("-- a b c d e f g h"), &StartInfo{}); sp != 0 {
		t.Fatalf("BuildStack into 64 bytes = %#x, want 0", sp)
	}
}

func TestEmptyCommandLine(t *testing.T) {
	mem := make([]byte, 4096)
	sp := BuildStack(mem, 0x10000, nil, &StartInfo{})
	argv, envp, _ := readStack(t, mem, 0x10000, sp)
	if len(argv) != 0 || len(envp) != 0 {
		t.Fatalf("argv %q envp %q", argv, envp)
	}
}
