// Command profile samples where a Stardust guest spends its time while it
// serves HTTP under load, and prints the functions that hold the most
// samples. It boots examples/httpd with the kernel option stardust.profile
// (the timer samples the program's instruction pointer every 100 µs once
// the boot is over and prints the samples when its buffer is full), loads
// it with keep-alive clients from the host, and names the samples from
// the image's symbol table. Samples taken while the program was in a
// system call land on the instruction after it (the kernel runs with
// interrupts off), so kernel time shows as the syscall wrappers. Run
// from the repository root:
//
//	go run ./bench/profile [-c 16] [-top 40]
package main

import (
	"context"
	"debug/elf"
	"debug/gosym"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stardust-go/stardust/internal/syncbuf"
	"github.com/stardust-go/stardust/toolchain"
	"github.com/stardust-go/stardust/vmm"
)

var (
	conc     = flag.Int("c", 16, "concurrent keep-alive clients")
	top      = flag.Int("top", 40, "functions to list")
	pkg      = flag.String("pkg", "./examples/httpd", "the server to profile (serves GET / on port 8080)")
	machine  = flag.String("machine", "microvm", "QEMU machine")
	timeline = flag.Bool("timeline", false, "also print the last system calls of the window, with their threads")
	console  = flag.String("console", "", "also save the guest's console output in this file")
)

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "stardust-profile-")
	check(err)
	defer os.RemoveAll(tmp)
	img := filepath.Join(tmp, "server.img")
	check(toolchain.Build(toolchain.Options{Pkg: *pkg, Output: img}))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	var out syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		vmm.Run(ctx, vmm.Config{Image: img, Machine: *machine, Ports: []string{fmt.Sprintf("%d:8080", port)},
			Options: []string{"stardust.profile"}, Stdout: &out, Stderr: io.Discard, Timeout: 5 * time.Minute})
		close(done)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reqs sync.Map
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			n := 0
			for {
				select {
				case <-stop:
					reqs.Store(i, n)
					return
				default:
				}
				resp, err := cl.Get(url)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n++
			}
		}(i)
	}
	// The kernel prints the samples when its buffer is full.
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "samples (user") {
		if time.Now().After(deadline) {
			check(fmt.Errorf("no samples after 3 minutes; console:\n%s", out.String()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // let the printing finish
	close(stop)
	wg.Wait()
	cancel()
	<-done

	if *console != "" {
		check(os.WriteFile(*console, []byte(out.String()), 0o644))
	}
	pcs := regexp.MustCompile(`sample 0x([0-9a-f]{16})`).FindAllStringSubmatch(out.String(), -1)
	table := symbols(img)
	counts := map[string]int{}
	pkgs := map[string]int{}
	for _, m := range pcs {
		pc, _ := strconv.ParseUint(m[1], 16, 64)
		name := "?"
		if fn := table.PCToFunc(pc); fn != nil {
			name = fn.Name
		}
		counts[name]++
		pkgs[pkgOf(name)]++
	}
	fmt.Printf("%d samples (100 µs apart while the program ran)\n\n", len(pcs))
	print := func(title string, m map[string]int, n int) {
		type kv struct {
			k string
			v int
		}
		var s []kv
		for k, v := range m {
			s = append(s, kv{k, v})
		}
		sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v })
		fmt.Printf("| %s | samples | share |\n|---|---|---|\n", title)
		total := 0
		for _, e := range s {
			total += e.v
		}
		for i := 0; i < len(s) && i < n; i++ {
			fmt.Printf("| %s | %d | %.1f%% |\n", s[i].k, s[i].v, 100*float64(s[i].v)/float64(total))
		}
		fmt.Println()
	}
	print("package", pkgs, 25)
	print("function", counts, *top)

	calls := map[string]int{}
	names := syscallNames()
	for _, m := range regexp.MustCompile(`\bcall (\d+): (\d+)`).FindAllStringSubmatch(out.String(), -1) {
		nr, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		name := names[nr]
		if name == "" {
			name = m[1]
		}
		calls[name] += n
	}
	print("system call (count while sampling)", calls, 25)
	if *timeline {
		fmt.Println("the last system calls of the window (µs since the previous, thread, call):")
		perUs := tscPerUs(out.String())
		for _, m := range regexp.MustCompile(`recent (\d+) (\d+) (\d+)`).FindAllStringSubmatch(out.String(), -1) {
			d, _ := strconv.ParseFloat(m[1], 64)
			nr, _ := strconv.Atoi(m[3])
			name := names[nr]
			if name == "" {
				name = m[3]
			}
			fmt.Printf("%8.1f  %4s  %s\n", d/perUs, m[2], name)
		}
		fmt.Println()
	}
	kernelTable(out.String(), names)
	if m := regexp.MustCompile(`profile window \(TSC ticks\): (\d+), idle: (\d+)`).FindStringSubmatch(out.String()); m != nil {
		w, _ := strconv.ParseFloat(m[1], 64)
		i, _ := strconv.ParseFloat(m[2], 64)
		fmt.Printf("the vCPU was idle (halted) %.1f%% of the sampling window\n", 100*i/w)
	}
}

// syscallNames reads the host's system-call numbers (Linux headers), or
// returns an empty map: the table then shows numbers (Stardust's own
// calls are 4096 and up, see kernel/bridge).
func syscallNames() map[int]string {
	m := map[int]string{}
	b, err := os.ReadFile("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
	if err != nil {
		return m
	}
	for _, f := range regexp.MustCompile(`#define __NR_(\w+) (\d+)`).FindAllStringSubmatch(string(b), -1) {
		nr, _ := strconv.Atoi(f[2])
		m[nr] = f[1]
	}
	return m
}

func symbols(img string) *gosym.Table {
	f, err := elf.Open(img)
	check(err)
	defer f.Close()
	pclntab, err := f.Section(".gopclntab").Data()
	check(err)
	t, err := gosym.NewTable(nil, gosym.NewLineTable(pclntab, f.Section(".text").Addr))
	check(err)
	return t
}

// tscPerUs is the guest's TSC rate in ticks per µs, as the kernel
// printed it with the samples.
func tscPerUs(out string) float64 {
	m := regexp.MustCompile(`TSC ticks per second: (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return 1
	}
	hz, _ := strconv.ParseFloat(m[1], 64)
	return hz / 1e6
}

// pkgOf returns the package path of a function name.
func pkgOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// kernelTable prints the kernel's occupancy by cause: for each system call
// and interrupt vector, how often the program entered the kernel for it
// and how long the CPU stayed in the kernel until it next returned to the
// program (switches to other threads included, halted time excluded).
func kernelTable(out string, names map[int]string) {
	perUs := tscPerUs(out)
	var window float64
	if m := regexp.MustCompile(`profile window \(TSC ticks\): (\d+)`).FindStringSubmatch(out); m != nil {
		window, _ = strconv.ParseFloat(m[1], 64)
	}
	type row struct {
		name  string
		n     int
		ticks float64
	}
	var rows []row
	var total float64
	for _, m := range regexp.MustCompile(`k(call|vector) (\d+): (\d+) (\d+)`).FindAllStringSubmatch(out, -1) {
		k, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		t, _ := strconv.ParseFloat(m[4], 64)
		name := "interrupt " + m[2]
		if m[1] == "call" {
			name = names[k]
			if name == "" {
				name = m[2]
			}
		}
		rows = append(rows, row{name, n, t})
		total += t
	}
	if len(rows) == 0 || perUs == 0 || window == 0 {
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ticks > rows[j].ticks })
	fmt.Printf("the kernel held the CPU %.1f%% of the window:\n\n", 100*total/window)
	fmt.Printf("| entered for | entries | µs each | share of window |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Printf("| %s | %d | %.1f | %.1f%% |\n", r.name, r.n, r.ticks/perUs/float64(r.n), 100*r.ticks/window)
	}
	fmt.Println()
}
