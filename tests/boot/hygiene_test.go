package boot_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestTrapContextHygiene disassembles the trap-context packages in a real
// image and checks the rules of docs/architecture.md that the compiler
// does not enforce: no stack-growth checks (a goroutine's stack guard means
// nothing on a kernel stack), no write barriers, no heap allocation.
func TestTrapContextHygiene(t *testing.T) {
	t.Parallel()
	img := image(t, "../../../examples/hello")
	const pkgs = `github.com/stardust-go/stardust/kernel(/arch/amd64|/mem|/sched|/linux|/clock|/klog|/platform|/rand|/drivers/uart)?\.`
	out, err := exec.Command("go", "tool", "objdump", "-s", "^"+pkgs, img).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	forbidden := regexp.MustCompile(`CALL runtime\.(morestack|gcWriteBarrier|wbMove|mallocgc|newobject|growslice|makeslice|concatstring|convT|typedmemmove)|0x10\(R14\)`)
	var fn string
	funcs := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "TEXT ") {
			fn = strings.Fields(line)[1]
			funcs++
			continue
		}
		// The package's init runs in the program (ring 3), not in a trap.
		if strings.Contains(fn, ".init") || strings.HasSuffix(fn, "kernel.init.0(SB)") {
			continue
		}
		if forbidden.MatchString(line) {
			t.Errorf("%s: %s", fn, strings.TrimSpace(line))
		}
	}
	if funcs < 100 {
		t.Fatalf("only %d kernel functions disassembled: the pattern is wrong", funcs)
	}
}
