package boot_test

import (
	"debug/elf"
	"debug/gosym"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stardust-go/stardust/vmm"
)

// TestBootTrace boots with the boot trace and sampling on and checks the
// report: every phase in order with times that never go back, the system
// call timeline from the runtime's first call to exit_group, and samples
// that name functions of the program's image.
func TestBootTrace(t *testing.T) {
	t.Parallel()
	img := image(t, "exitcode")
	b := run(t, img, vmm.Config{Options: []string{"stardust.boottrace.samples"}, Args: []string{"7"}})
	expectExit(t, b, 7)

	phases := []string{"kernel entry", "memory", "scheduler", "devices", "clocks calibrated", "CPUs",
		"first thread", "first syscall", "kernel services", "exit"}
	last := -1.0
	for _, p := range phases {
		m := regexp.MustCompile(`\[stardust\]   ` + p + `: (\d+\.\d\d)`).FindStringSubmatch(b.out)
		if m == nil {
			t.Fatalf("phase %q missing from the trace:\n%s", p, b.out)
		}
		ms, _ := strconv.ParseFloat(m[1], 64)
		if ms < last {
			t.Errorf("phase %q at %.2f ms, before the previous phase (%.2f ms)", p, ms, last)
		}
		last = ms
	}

	calls := regexp.MustCompile(`(?m)^\[stardust\]   \d+\.\d\d \+\d+\.\d\d (\w+) \d+$`).FindAllStringSubmatch(b.out, -1)
	if len(calls) < 10 {
		t.Fatalf("%d system calls in the trace, want the runtime's start:\n%s", len(calls), b.out)
	}
	if calls[0][1] != "arch_prctl" {
		t.Errorf("first system call %q, want arch_prctl (the runtime's settls)", calls[0][1])
	}
	if !strings.Contains(b.out, " stardust_devices ") {
		t.Errorf("the kernel's own calls are not named in the trace")
	}

	pcs := regexp.MustCompile(`sample 0x([0-9a-f]{16})`).FindAllStringSubmatch(b.out, -1)
	if len(pcs) < 20 {
		t.Fatalf("%d samples, want a profile of the boot", len(pcs))
	}
	f, err := elf.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pclntab, err := f.Section(".gopclntab").Data()
	if err != nil {
		t.Fatal(err)
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(pclntab, f.Section(".text").Addr))
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, pc := range pcs {
		v, _ := strconv.ParseUint(pc[1], 16, 64)
		if fn := table.PCToFunc(v); fn != nil && strings.HasPrefix(fn.Name, "runtime.") {
			named++
		}
	}
	if named == 0 {
		t.Errorf("no sample falls in a runtime function (%d samples)", len(pcs))
	}
}
