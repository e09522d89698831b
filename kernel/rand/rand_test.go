package rand

import "testing"

// The ChaCha20 block function against RFC 8439, section 2.3.2.
func TestBlockRFC8439(t *testing.T) {
	for i := range key {
		key[i] = uint32(4*i) | uint32(4*i+1)<<8 | uint32(4*i+2)<<16 | uint32(4*i+3)<<24
	}
	nonce = [3]uint32{0x09000000, 0x4a000000, 0x00000000}
	counter = 1
	var out [16]uint32
	block(&out)
	want := [16]uint32{
		0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3,
		0xc7f4d1c7, 0x0368c033, 0x9aaa2204, 0x4e6cd4c3,
		0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9,
		0xd19c12b5, 0xb94e16de, 0xe883d0cb, 0x4e3c50a2,
	}
	if out != want {
		t.Fatalf("block = %08x\nwant    %08x", out, want)
	}
}

func TestReadChangesKeyAndOutput(t *testing.T) {
	Mix(12345)
	a := make([]byte, 100)
	b := make([]byte, 100)
	Read(a)
	Read(b)
	if string(a) == string(b) {
		t.Fatal("two reads returned the same bytes")
	}
	zero := 0
	for _, x := range a {
		if x == 0 {
			zero++
		}
	}
	if zero > 10 {
		t.Fatalf("%d zero bytes in 100: not random-looking", zero)
	}
}
