package boot_test

import (
	"regexp"
	"testing"

	"github.com/stardust-go/stardust/vmm"
)

// TestVDSOClock checks the vDSO's clock_gettime: the runtime finds and
// uses it (with the boot trace on, the program's readings through
// time.Now and runtime.nanotime make no system call), and its readings
// agree with the kernel's.
func TestVDSOClock(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "vdso"), vmm.Config{Options: []string{"stardust.boottrace"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `clocks: 0 disagreements`)
	// The trace holds the first 400 system calls: the runtime's start,
	// then the loop. With the vDSO, the loop's calls alternate: one
	// clock_gettime (the direct monotonic reading), one gettimeofday.
	// Without it, time.Now and nanotime add clock_gettime calls between.
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\[stardust\]   \d+\.\d\d \+\d+\.\d\d (\w+) \d+$`).FindAllStringSubmatch(b.out, -1) {
		names = append(names, m[1])
	}
	loop := 0
	for i := 1; i < len(names); i++ {
		if names[i] == "gettimeofday" {
			loop++
			if names[i-1] != "clock_gettime" || (i >= 2 && names[i-2] == "clock_gettime") {
				t.Fatalf("calls before gettimeofday #%d: %v; want exactly one clock_gettime since the previous one (the runtime reads the clock through the kernel, not the vDSO)", loop, names[max(0, i-4):i+1])
			}
		}
	}
	if loop < 20 {
		t.Fatalf("only %d loop iterations in the trace:\n%s", loop, b.out)
	}
}
