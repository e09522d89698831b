package amd64

import "testing"

// The trampoline's three parts must start where its jumps go.
func TestTrampolineLayout(t *testing.T) {
	if trampoline[0] != 0xFA {
		t.Fatal("real-mode part does not start with cli")
	}
	if trampoline[0x20] != 0x66 || trampoline[0x21] != 0xB8 {
		t.Fatalf("32-bit part not at 0x20: % x", trampoline[0x1c:0x24])
	}
	if trampoline[0x80] != 0x48 || trampoline[0x81] != 0x8B {
		t.Fatalf("64-bit part not at 0x80: % x", trampoline[0x7c:0x84])
	}
	if len(trampoline) > apParams-TrampolineAddr {
		t.Fatal("trampoline overlaps its parameters")
	}
}
