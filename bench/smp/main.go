// Command smp measures multi-core scaling and idle cost and prints a
// table: a CPU-bound workload (bench/smp/primes) at 1, 2 and 4 vCPUs under
// QEMU's multi-threaded TCG, next to the same program on the host with
// GOMAXPROCS 1, 2 and 4 (speedups measured in one run), and the host CPU
// time an idle VM uses over 10 s. Run from the repository root:
//
//	go run ./bench/smp [-limit 3000000]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/stardust-go/stardust/toolchain"
	"github.com/stardust-go/stardust/vmm"
)

var limit = flag.Int("limit", 3_000_000, "count primes below this")

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "stardust-bench-smp-")
	check(err)
	defer os.RemoveAll(tmp)
	img := filepath.Join(tmp, "primes.img")
	check(toolchain.Build(toolchain.Options{Pkg: "./bench/smp/primes", Output: img}))
	host := filepath.Join(tmp, "primes")
	check(exec.Command("go", "build", "-o", host, "./bench/smp/primes").Run())

	re := regexp.MustCompile(`ms=(\d+)`)
	msOf := func(out string) float64 {
		m := re.FindStringSubmatch(out)
		if m == nil {
			check(fmt.Errorf("no timing in %q", out))
		}
		v, _ := strconv.Atoi(m[1])
		return float64(v)
	}
	vmMS := map[int]float64{}
	hostMS := map[int]float64{}
	for _, n := range []int{1, 2, 4} {
		var out bytes.Buffer
		_, err := vmm.Run(context.Background(), vmm.Config{Image: img, SMP: n, Args: []string{strconv.Itoa(*limit)}, Stdout: &out, Timeout: 10 * time.Minute})
		check(err)
		vmMS[n] = msOf(out.String())
		cmd := exec.Command(host, strconv.Itoa(*limit))
		cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", n))
		o, err := cmd.Output()
		check(err)
		hostMS[n] = msOf(string(o))
	}
	fmt.Printf("| vCPUs / GOMAXPROCS | VM time | VM speedup | host time | host speedup | efficiency (VM speedup / host speedup) |\n|---|---|---|---|---|---|\n")
	for _, n := range []int{1, 2, 4} {
		vs, hs := vmMS[1]/vmMS[n], hostMS[1]/hostMS[n]
		fmt.Printf("| %d | %.0f ms | %.2f | %.0f ms | %.2f | %.2f |\n", n, vmMS[n], vs, hostMS[n], hs, vs/hs)
	}

	// Thread hand-offs: futex and channel ping-pong between two threads.
	pimg := filepath.Join(tmp, "pingpong.img")
	check(toolchain.Build(toolchain.Options{Pkg: "./bench/smp/pingpong", Output: pimg}))
	phost := filepath.Join(tmp, "pingpong")
	check(exec.Command("go", "build", "-o", phost, "./bench/smp/pingpong").Run())
	pp := regexp.MustCompile(`futex-ns=(\d+) chan-ns=(\d+)`)
	fmt.Printf("\n| one-way hand-off between two threads | VM | host (Linux) |\n|---|---|---|\n")
	for _, n := range []int{1, 2} {
		var out bytes.Buffer
		_, err := vmm.Run(context.Background(), vmm.Config{Image: pimg, SMP: n, Args: []string{"5000"}, Stdout: &out, Timeout: 10 * time.Minute})
		check(err)
		vm := pp.FindStringSubmatch(out.String())
		cmd := exec.Command(phost, "20000")
		cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", n))
		o, err := cmd.Output()
		check(err)
		h := pp.FindStringSubmatch(string(o))
		if vm == nil || h == nil {
			check(fmt.Errorf("pingpong output: %q / %q", out.String(), o))
		}
		fmt.Printf("| futex wake-to-run, %d CPU(s) | %s ns | %s ns |\n", n, vm[1], h[1])
		fmt.Printf("| channel hand-off (locked threads), %d CPU(s) | %s ns | %s ns |\n", n, vm[2], h[2])
	}
	fmt.Println()

	// Idle: a VM whose program sleeps; host CPU time of QEMU over 10 s.
	sleeper := filepath.Join(tmp, "sleeper")
	check(os.MkdirAll(sleeper, 0o755))
	os.WriteFile(filepath.Join(sleeper, "main.go"), []byte("package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n"), 0o644)
	os.WriteFile(filepath.Join(sleeper, "go.mod"), []byte("module sleeper\n\ngo 1.26\n"), 0o644)
	simg := filepath.Join(tmp, "sleeper.img")
	check(toolchain.Build(toolchain.Options{Pkg: sleeper, Output: simg}))
	for _, n := range []int{1, 4} {
		var ru syscall.Rusage
		before := childCPU(&ru)
		vmm.Run(context.Background(), vmm.Config{Image: simg, SMP: n, Timeout: 12 * time.Second})
		used := childCPU(&ru) - before
		fmt.Printf("| idle VM, %d vCPU(s): host CPU over 12 s (boot included) | %.2f s |\n", n, used.Seconds())
	}
}

func childCPU(ru *syscall.Rusage) time.Duration {
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
