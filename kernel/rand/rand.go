// Package rand is the kernel's random number generator, behind getrandom,
// AT_RANDOM and /dev/urandom: a ChaCha20 keystream (RFC 8439) whose key is
// re-mixed from fresh entropy. Entropy comes from RDSEED/RDRAND when the CPU
// has them, and always also from TSC jitter (the timing noise of reading a
// device register many times), so a CPU without RDRAND still gets a seed
// that differs from boot to boot. Drivers (virtio-rng) add more with Mix.
//
// Execution context: trap context (//go:nosplit, no allocation).
package rand

import (
	"github.com/stardust-go/stardust/kernel/arch/amd64"
)

var (
	key       [8]uint32
	nonce     [3]uint32
	counter   uint32
	hasRDRAND bool
)

// Init gathers the boot entropy.
//
//go:nosplit
func Init() {
	_, _, c, _ := amd64.Cpuid(1, 0)
	hasRDRAND = c&(1<<30) != 0
	for i := 0; i < 64; i++ {
		Mix(jitter())
	}
	if hasRDRAND {
		for i := 0; i < 8; i++ {
			if v, ok := amd64.Rdrand(); ok {
				Mix(v)
			}
		}
	}
}

// HasRDRAND reports whether the CPU provides RDRAND.
//
//go:nosplit
func HasRDRAND() bool { return hasRDRAND }

// jitter measures how long a few port reads take, in TSC ticks: the low
// bits vary with the host's scheduling, caches and the emulator.
//
//go:nosplit
func jitter() uint64 {
	var acc uint64
	for i := 0; i < 8; i++ {
		t0 := amd64.Rdtsc()
		amd64.Inb(0x71) // CMOS data port: an exit to the hypervisor
		t1 := amd64.Rdtsc()
		acc = acc<<7 ^ acc>>57 ^ (t1 - t0) ^ t1
	}
	return acc
}

// Mix stirs v into the key: the key becomes the next keystream block
// XORed with v, so earlier outputs cannot be recomputed from it.
//
//go:nosplit
func Mix(v uint64) {
	var blk [16]uint32
	block(&blk)
	for i := range key {
		key[i] ^= blk[i]
	}
	key[0] ^= uint32(v)
	key[1] ^= uint32(v >> 32)
	nonce[0] ^= blk[8]
	nonce[1] ^= blk[9]
}

// Read fills p with random bytes.
//
//go:nosplit
func Read(p []byte) {
	if hasRDRAND {
		if v, ok := amd64.Rdrand(); ok {
			key[7] ^= uint32(v)
			key[6] ^= uint32(v >> 32)
		}
	}
	var blk [16]uint32
	for len(p) > 0 {
		block(&blk)
		for i := 0; i < 64 && len(p) > 0; i++ {
			p[0] = byte(blk[i/4] >> (8 * (i % 4)))
			p = p[1:]
		}
	}
	// Fast key erasure: replace the key so this output cannot be rebuilt.
	block(&blk)
	copy(key[:], blk[:8])
}

//go:nosplit
func rotl(x uint32, n uint) uint32 { return x<<n | x>>(32-n) }

//go:nosplit
func qr(s *[16]uint32, a, b, c, d int) {
	s[a] += s[b]
	s[d] = rotl(s[d]^s[a], 16)
	s[c] += s[d]
	s[b] = rotl(s[b]^s[c], 12)
	s[a] += s[b]
	s[d] = rotl(s[d]^s[a], 8)
	s[c] += s[d]
	s[b] = rotl(s[b]^s[c], 7)
}

// block computes the next ChaCha20 block into out.
//
//go:nosplit
func block(out *[16]uint32) {
	s := [16]uint32{0x61707865, 0x3320646e, 0x79622d32, 0x6b206574}
	copy(s[4:12], key[:])
	s[12] = counter
	s[13], s[14], s[15] = nonce[0], nonce[1], nonce[2]
	in := s
	for i := 0; i < 10; i++ {
		qr(&s, 0, 4, 8, 12)
		qr(&s, 1, 5, 9, 13)
		qr(&s, 2, 6, 10, 14)
		qr(&s, 3, 7, 11, 15)
		qr(&s, 0, 5, 10, 15)
		qr(&s, 1, 6, 11, 12)
		qr(&s, 2, 7, 8, 13)
		qr(&s, 3, 4, 9, 14)
	}
	for i := range s {
		out[i] = s[i] + in[i]
	}
	counter++
	if counter == 0 {
		nonce[2]++
	}
}
