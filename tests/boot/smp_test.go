package boot_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stardust-go/stardust/vmm"
)

// TestSMP boots with 2 and 4 vCPUs (QEMU's multi-threaded TCG runs them in
// parallel): GOMAXPROCS follows the CPU count, busy goroutines run on
// every CPU, and a stress test of mutexes, channels, atomics and a map
// under a mutex ends with exact counts.
func TestSMP(t *testing.T) {
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("smp%d", n), func(t *testing.T) {
			t.Parallel()
			b := run(t, image(t, "cpus"), vmm.Config{SMP: n, Timeout: 2 * time.Minute})
			expectExit(t, b, 0)
			var want []string
			for i := 0; i < n; i++ {
				want = append(want, fmt.Sprint(i))
			}
			expectOutput(t, b, fmt.Sprintf(`GOMAXPROCS=%d CPUs used: \[%s\]`, n, strings.Join(want, " ")))

			b = run(t, image(t, "stress"), vmm.Config{SMP: n, Args: []string{"3"}, Timeout: 2 * time.Minute})
			expectExit(t, b, 0)
			expectOutput(t, b, `exact=true`)

			b = run(t, image(t, "spin"), vmm.Config{SMP: n, Timeout: 2 * time.Minute})
			expectExit(t, b, 0)
		})
	}
}

// TestSMPGCChurn: 2 GiB of allocation with 2 and 4 CPUs collecting (page
// faults and MADV_DONTNEED everywhere, so TLB shootdowns too).
func TestSMPGCChurn(t *testing.T) {
	for _, n := range []int{2, 4} {
		t.Run(fmt.Sprintf("smp%d", n), func(t *testing.T) {
			t.Parallel()
			b := run(t, image(t, "gcchurn"), vmm.Config{SMP: n, Timeout: 3 * time.Minute})
			expectExit(t, b, 0)
			expectOutput(t, b, `allocated 2048 MiB in total`)
		})
	}
}

// TestTLBShootdown: munmap and MADV_DONTNEED on one CPU while another keeps
// reading the page: the reader must fault, or see the fresh zero page, not
// the old data through a stale TLB entry.
func TestTLBShootdown(t *testing.T) {
	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("smp%d", n), func(t *testing.T) {
			t.Parallel()
			b := run(t, image(t, "tlb"), vmm.Config{SMP: n, Timeout: 2 * time.Minute})
			expectExit(t, b, 0)
			expectOutput(t, b, "munmap: reader faulted: true\nmadvise: reader sees zeros: true")
		})
	}
}

// TestAVXStateSurvivesSwitches: the program sees AVX2 (XSAVE is on, AVX in
// XCR0) and 8 threads' worth of AVX copies, compares and hashes on 1 and 2
// vCPUs, with preemption signals, come out right.
func TestAVXStateSurvivesSwitches(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2} {
		b := run(t, image(t, "avx"), vmm.Config{SMP: n})
		expectExit(t, b, 0)
		expectOutput(t, b, `osxsave: true avx: true avx2: true\nrounds: true errors: 0`)
	}
}
