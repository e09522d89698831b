// Checks that the program may use AVX (the kernel enabled XSAVE and the
// AVX state in XCR0, so the Go runtime's memmove, bytes and crypto code
// use the YMM registers) and that the full YMM state survives preemption
// and thread switches: more threads than CPUs copy, compare and hash
// large buffers while a spinning goroutine forces asynchronous preemption
// (SIGURG). A YMM register that came back wrong corrupts a copy or a
// comparison, which the workers count.
package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"
)

func main() {
	fmt.Printf("osxsave: %v avx: %v avx2: %v\n", cpu.X86.HasOSXSAVE, cpu.X86.HasAVX, cpu.X86.HasAVX2)
	runtime.GOMAXPROCS(4)
	var stop atomic.Bool
	var errors, rounds atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			src := make([]byte, 64<<10+int(seed)*13)
			rng.Read(src)
			want := sha256.Sum256(src)
			dst := make([]byte, len(src))
			for !stop.Load() {
				for i := range dst {
					dst[i] = 0
				}
				copy(dst, src)
				if !bytes.Equal(dst, src) || sha256.Sum256(dst) != want {
					errors.Add(1)
				}
				// Overlapping moves take memmove's backward path too.
				copy(dst[1:], dst[:len(dst)-1])
				if !bytes.Equal(dst[1:], src[:len(src)-1]) {
					errors.Add(1)
				}
				rounds.Add(1)
			}
		}(int64(w))
	}
	// A goroutine in a loop without calls: only async preemption (a
	// signal) can take its thread.
	go func() {
		x := 0
		for !stop.Load() {
			x++
		}
		_ = x
	}()
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	fmt.Printf("rounds: %v errors: %d\n", rounds.Load() > 0, errors.Load())
	if errors.Load() != 0 {
		os.Exit(1)
	}
}
