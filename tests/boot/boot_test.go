// Package boot_test builds small Go programs into Stardust images and boots
// them in QEMU, checking their output and exit status. They use TCG where
// KVM cannot run guests (as on the project's machines and CI), and would
// pass unchanged on hardware KVM.
package boot_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/toolchain"
	"github.com/stardust-go/stardust/vmm"
)

var (
	imgDir   string
	imgMu    sync.Mutex
	imgCache = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stardust-boot-test-")
	if err != nil {
		panic(err)
	}
	imgDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireQEMU fails (never skips) when QEMU is missing: these tests are
// the proof that images boot.
func requireQEMU(t *testing.T) {
	t.Helper()
	if _, err := vmm.QEMUPath(); err != nil {
		t.Fatalf("%v (run scripts/setup-debian.sh)", err)
	}
}

// imageParts are the optional parts of an image (toolchain.Parts) that
// test programs need: they boot with -disk or -v. The others are built
// without, as `stardust build` does by default.
var imageParts = map[string][]string{
	"disk":  {"disks"},
	"mmap":  {"disks"},
	"bolt":  {"disks"},
	"share": {"shares"},
	"sleep": {"entropy"}, // TestEntropyDevice
}

// image builds testdata/NAME once per test run.
func image(t *testing.T, name string) string {
	t.Helper()
	imgMu.Lock()
	defer imgMu.Unlock()
	if p, ok := imgCache[name]; ok {
		return p
	}
	out := filepath.Join(imgDir, filepath.Base(name)+".img")
	if err := toolchain.Build(toolchain.Options{Pkg: "./testdata/" + name, Output: out, With: imageParts[name]}); err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	imgCache[name] = out
	return out
}

type boot struct {
	out    string
	result vmm.Result
}

func run(t *testing.T, img string, c vmm.Config) boot {
	t.Helper()
	requireQEMU(t)
	var out bytes.Buffer
	c.Image = img
	c.Stdout = &out
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	res, err := vmm.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("run %s: %v", img, err)
	}
	return boot{out.String(), res}
}

func expectExit(t *testing.T, b boot, status int) {
	t.Helper()
	if b.result.Outcome != vmm.Exited || b.result.Status != status {
		t.Fatalf("outcome %v status %d (%s), want exit %d; console:\n%s", b.result.Outcome, b.result.Status, b.result.Detail, status, b.out)
	}
}

func expectOutput(t *testing.T, b boot, re string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(b.out)
	if m == nil {
		t.Fatalf("console does not match %q:\n%s", re, b.out)
	}
	return m
}

func TestHello(t *testing.T) {
	t.Parallel()
	img := image(t, "../../../examples/hello")
	b := run(t, img, vmm.Config{Args: []string{"one", "two words"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `Hello from Stardust!\narg\[1\] = one\narg\[2\] = two words\n`)
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	img := image(t, "exitcode")
	for _, n := range []int{0, 1, 3, 42, 127, 128, 200, 255} {
		b := run(t, img, vmm.Config{Args: []string{strconv.Itoa(n)}})
		expectExit(t, b, n)
	}
}

func TestArgsAndEnv(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "env"), vmm.Config{
		Args: []string{"a b", "", "100%", "--", "comma,semi;"},
		Env:  []string{"GREETING=hello, world", "EMPTY="},
	})
	expectExit(t, b, 0)
	expectOutput(t, b, `args=\["a b" "" "100%" "--" "comma,semi;"\]\nGREETING="hello, world"\nEMPTY=""`)
}

func TestGoroutines(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "goroutines"), vmm.Config{})
	expectExit(t, b, 0)
	expectOutput(t, b, `goroutines done: sum=999000`)
}

func TestGCChurn(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "gcchurn"), vmm.Config{Memory: "128M"})
	expectExit(t, b, 0)
	m := expectOutput(t, b, `allocated 2048 MiB in total, (\d+) GC cycles`)
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		t.Fatalf("only %d GC cycles for 2 GiB of allocation", n)
	}
}

func TestSleepAndTimers(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "sleep"), vmm.Config{})
	expectExit(t, b, 0)
	m := expectOutput(t, b, `slept (\d+) ms\ntimer fired after (\d+) ms\nticker ok`)
	if ms, _ := strconv.Atoi(m[1]); ms < 100 || ms >= 200 {
		t.Fatalf("time.Sleep(100ms) took %d ms, want [100, 200)", ms)
	}
	if ms, _ := strconv.Atoi(m[2]); ms < 50 || ms >= 150 {
		t.Fatalf("a 50 ms timer fired after %d ms", ms)
	}
}

func TestWallClock(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "walltime"), vmm.Config{})
	expectExit(t, b, 0)
	m := expectOutput(t, b, `unix=(\d+)`)
	guest, _ := strconv.ParseInt(m[1], 10, 64)
	if d := time.Now().Unix() - guest; d < -5 || d > 5 {
		t.Fatalf("guest time %d is %d s off the host's", guest, d)
	}
}

func TestNilDereferenceRecovers(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "nilderef"), vmm.Config{})
	expectExit(t, b, 0)
	expectOutput(t, b, `(recovered: runtime error: invalid memory address or nil pointer dereference\n){3}still running`)
}

func TestUnrecoveredPanic(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "panic"), vmm.Config{})
	expectExit(t, b, 2)
	expectOutput(t, b, `panic: assignment to entry in nil map\n\ngoroutine 1 \[running\]:\nmain.main\(\)\n\t.*testdata/panic/main.go:6`)
}

func TestRandomDiffersBetweenBoots(t *testing.T) {
	t.Parallel()
	img := image(t, "randbytes")
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		b := run(t, img, vmm.Config{})
		expectExit(t, b, 0)
		r := expectOutput(t, b, `random=([0-9a-f]{32})`)[1]
		if raw, _ := hex.DecodeString(r); bytes.Count(raw, []byte{0}) > 4 {
			t.Fatalf("random bytes %s look wrong", r)
		}
		seen[r] = true
	}
	if len(seen) != 2 {
		t.Fatal("two boots produced the same crypto/rand bytes")
	}
}

func TestGOMAXPROCS(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "gomaxprocs"), vmm.Config{})
	expectExit(t, b, 0)
	expectOutput(t, b, `GOMAXPROCS=1 NumCPU=1`)
}

func TestUnsupportedSyscallIsENOSYS(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "enosys"), vmm.Config{})
	expectExit(t, b, 0)
	expectOutput(t, b, `unsupported system call io_uring_setup \(425\): ENOSYS`)
	expectOutput(t, b, `errno=38 ENOSYS=true`)
}

func TestQ35Machine(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "../../../examples/hello"), vmm.Config{Machine: "q35"})
	expectExit(t, b, 0)
	expectOutput(t, b, `Hello from Stardust!`)
}

// TestSeparateModule builds a main package from a throw-away module that
// knows nothing of Stardust, and checks its go.mod is left untouched.
func TestSeparateModule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gomod := "module example.com/elsewhere\n\ngo 1.26\n"
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"from another module\") }\n"), 0o644)
	img := filepath.Join(dir, "app.img")
	if err := toolchain.Build(toolchain.Options{Pkg: dir, Output: img}); err != nil {
		t.Fatal(err)
	}
	b := run(t, img, vmm.Config{})
	expectExit(t, b, 0)
	expectOutput(t, b, "from another module")
	if got, _ := os.ReadFile(filepath.Join(dir, "go.mod")); string(got) != gomod {
		t.Fatalf("go.mod changed:\n%s", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Fatalf("build left files in the module: %v", entries)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/bad\n\ngo 1.26\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "lib"), 0o755)
	os.WriteFile(filepath.Join(dir, "lib", "lib.go"), []byte("package lib\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "broken"), 0o755)
	os.WriteFile(filepath.Join(dir, "broken", "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "cgo"), 0o755)
	os.WriteFile(filepath.Join(dir, "cgo", "main.go"), []byte("package main\n\n// int two() { return 2; }\nimport \"C\"\n\nfunc main() { println(C.two()) }\n"), 0o644)
	for _, tc := range []struct{ pkg, want string }{
		{"lib", "not a main package"},
		{"broken", "undefined: undefinedThing"},
		{"cgo", "needs cgo"},
		{"nonexistent", "cannot"},
	} {
		err := toolchain.Build(toolchain.Options{Pkg: filepath.Join(dir, tc.pkg), Output: filepath.Join(dir, "x.img")})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("build %s: error %v, want one containing %q", tc.pkg, err, tc.want)
		}
	}
}

// The stardust command itself: exit status and missing-image errors.
func TestCLI(t *testing.T) {
	t.Parallel()
	requireQEMU(t)
	bin := filepath.Join(t.TempDir(), "stardust")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/stardust").CombinedOutput(); err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "-timeout", "2m", "./testdata/exitcode", "--", "77")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 77 {
		t.Fatalf("stardust run exitcode 77: %v\n%s", err, out)
	}
	notImage := filepath.Join(t.TempDir(), "x.img")
	os.WriteFile(notImage, []byte("not an ELF"), 0o644)
	out, err = exec.Command(bin, "run", notImage).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not bootable") && !strings.Contains(string(out), "not a Stardust image") {
		t.Fatalf("stardust run on garbage: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "run", "-machine", "nonsense", "./testdata/exitcode").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown machine") {
		t.Fatalf("bad -machine: %v\n%s", err, out)
	}

	// QEMU does not outlive a killed `stardust run` (the server runs
	// until asked to quit).
	img := image(t, "../../../examples/httpd")
	runner := exec.Command(bin, "run", "-timeout", "2m", img)
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	var qemuPID int
	for i := 0; i < 200 && qemuPID == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		qemuPID = childOf(runner.Process.Pid, "qemu-system")
	}
	if qemuPID == 0 {
		runner.Process.Kill()
		t.Fatal("no QEMU child of stardust run")
	}
	runner.Process.Kill()
	runner.Wait()
	for i := 0; ; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", qemuPID))
		if err != nil || strings.Contains(string(b), ") Z ") {
			break // gone (or a zombie nobody reaps)
		}
		if i == 100 {
			syscall.Kill(qemuPID, syscall.SIGKILL)
			t.Fatal("QEMU kept running after stardust run was killed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childOf returns the PID of a child process of parent whose command
// contains name, or 0.
func childOf(parent int, name string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		s := string(stat)
		rest := s[strings.LastIndexByte(s, ')')+1:]
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(parent) && strings.Contains(s[:strings.LastIndexByte(s, ')')], name) {
			return pid
		}
	}
	return 0
}

// TestKernelPanicReport makes the kernel fault on purpose and checks the
// report: vector, registers, a symbolized backtrace, and the panic outcome
// instead of a hang.
func TestKernelPanicReport(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "exitcode"), vmm.Config{Options: []string{"stardust.selftest-panic"}, Timeout: time.Minute})
	if b.result.Outcome != vmm.KernelPanic {
		t.Fatalf("outcome %v (%s), want a kernel panic; console:\n%s", b.result.Outcome, b.result.Detail, b.out)
	}
	expectOutput(t, b, `KERNEL PANIC: page fault in the kernel: vector 14 \(page fault\) error 0x0000000000000002 cr2 0xfffff000dead0000`)
	expectOutput(t, b, `rip=0x[0-9a-f]+ rsp=`)
	expectOutput(t, b, `backtrace:\n\[stardust\]   pc 0x[0-9a-f]+\n\[stardust\] +github.com/stardust-go/stardust/kernel.selfTestPanic\+0x[0-9a-f]+ .*kernel/kernel.go:\d+`)
	expectOutput(t, b, `kernel/arch/amd64.boot64\+0x[0-9a-f]+ `)
}

// TestFiles packs a host directory with -files and checks what the program
// sees: the packed files read-only at /data, the defaults in /etc, a
// writable /tmp, the working directory and /proc.
func TestFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("packed hello"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.Symlink("hello.txt", filepath.Join(dir, "link"))
	img := filepath.Join(t.TempDir(), "files.img")
	if err := toolchain.Build(toolchain.Options{Pkg: "./testdata/files", Output: img, Files: []string{dir + ":/data"}}); err != nil {
		t.Fatal(err)
	}
	b := run(t, img, vmm.Config{})
	expectExit(t, b, 0)
	expectOutput(t, b, `hello.txt: "packed hello" <nil>
ls /data: hello.txt,link,sub <nil>
link -> hello.txt <nil>
write to image: open /data/new: read-only file system
/etc/hosts has localhost: true <nil>
tmp: "first" <nil>
stat: size=5 mode=-rw------- <nil>
old name: true
umask: old=22 file=-rw-r----- dir=drwxr-x---
cwd: / -> /tmp/a
somaxconn: "4096" <nil>`)
}

// TestPipe: pipes work from the first line of main on one CPU, where a
// pipe2 that waited for the service would hang the program (it is a raw
// system call: the runtime keeps the only P while it runs).
func TestPipe(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "pipe"), vmm.Config{})
	expectExit(t, b, 0)
	expectOutput(t, b, `read: "through the pipe" <nil>
nonblocking: <nil> true
O_DIRECT: invalid argument
round trips: 40`)
}

// TestPreemptSpinningGoroutines: goroutines in loops without function calls
// (one per P) must not stop a timer or a forced GC: Go preempts them with
// SIGURG through tgkill, which the kernel delivers.
func TestPreemptSpinningGoroutines(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "spin"), vmm.Config{Timeout: time.Minute})
	expectExit(t, b, 0)
	m := expectOutput(t, b, `timer fired after (\d+) ms\nGC completed in (\d+) ms`)
	if ms, _ := strconv.Atoi(m[1]); ms > 1000 {
		t.Errorf("a 50 ms timer took %d ms", ms)
	}
}

// TestHostShare shares a host directory over virtio-9p (-v): the guest
// reads a host file and writes one the host then sees; a read-only share
// refuses the write.
func TestHostShare(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "from-host.txt"), []byte("hello from the host"), 0o644)
	b := run(t, image(t, "share"), vmm.Config{Shares: []string{dir + ":/host"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `read: "hello from the host" <nil>\nwrite: <nil>\nentries: 2 <nil>`)
	if got, err := os.ReadFile(filepath.Join(dir, "from-guest.txt")); err != nil || string(got) != "written by the guest" {
		t.Fatalf("host sees %q, %v", got, err)
	}

	ro := t.TempDir()
	os.WriteFile(filepath.Join(ro, "from-host.txt"), []byte("hello from the host"), 0o644)
	b = run(t, image(t, "share"), vmm.Config{Shares: []string{ro + ":/host:ro"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `read: "hello from the host" <nil>\nwrite: open /host/from-guest.txt: (read-only file system|permission denied)`)
	if _, err := os.Stat(filepath.Join(ro, "from-guest.txt")); err == nil {
		t.Fatal("a read-only share was written")
	}
}
