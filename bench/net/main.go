// Command net measures examples/httpd as a Stardust VM under QEMU's user
// networking, on microvm and on pc, and the same program in a minimal
// Linux VM (Debian's kernel and an initramfs with only the program, see
// bench/internal/linuxvm) on pc with the same devices and memory, and
// prints a table: time from QEMU start to the first HTTP 200, requests
// per second and latency (p50/p99) under a keep-alive load, and the
// smallest -m at which the server still answers under load.
// Run from the repository root:
//
//	go run ./bench/net [-c 16] [-d 10s] [-runs 3]
//
// The load runs take turns across the guests (all guests' first runs, then
// all second runs, ...) and the table shows each guest's median run: on a
// shared host a single run can be a third off, and drifting host speed
// then affects every guest alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stardust-go/stardust/bench/internal/linuxvm"
	"github.com/stardust-go/stardust/toolchain"
	"github.com/stardust-go/stardust/vmm"
)

var (
	conc     = flag.Int("c", 16, "concurrent keep-alive clients")
	duration = flag.Duration("d", 10*time.Second, "load duration")
	boots    = flag.Int("n", 5, "boots for the boot-time median")
	runs     = flag.Int("runs", 3, "load runs per guest, taken in turns across the guests; the table shows the median run")
	linux    = flag.Bool("linux", true, "also measure the same program in a minimal Linux VM (downloads Debian's kernel once)")
)

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "stardust-bench-net-")
	check(err)
	defer os.RemoveAll(tmp)
	img := filepath.Join(tmp, "httpd.img")
	check(toolchain.Build(toolchain.Options{Pkg: "./examples/httpd", Output: img}))

	guests := []guest{
		{"Stardust, microvm (virtio-mmio)", stardust(img, "microvm")},
		{"Stardust, pc (virtio-pci)", stardust(img, "pc")},
	}
	if *linux {
		cache, err := os.UserCacheDir()
		check(err)
		kernel, mods, err := linuxvm.Kernel(filepath.Join(cache, "stardust"))
		check(err)
		initrd := filepath.Join(tmp, "httpd.cpio")
		check(linuxvm.Initramfs(initrd, "./examples/httpd", mods, linuxvm.NetModules))
		guests = append(guests, guest{"Linux VM, pc (virtio-pci)", func(ctx context.Context, port int, mem string) {
			cmd, err := linuxvm.Config{Kernel: kernel, Initrd: initrd, Memory: mem,
				Ports: []string{fmt.Sprintf("%d:8080", port)}, Stdout: io.Discard}.Command(ctx)
			check(err)
			cmd.Run()
		}})
	}

	type run struct {
		rps      float64
		p50, p99 time.Duration
		errs     int
		cpu      time.Duration // QEMU's host CPU time (all threads) per request
	}
	type result struct {
		first   time.Duration
		runs    []run
		minimum int
	}
	results := make([]result, len(guests))
	for i, g := range guests {
		var firsts []time.Duration
		for range *boots {
			vm := start(g.run, "128M")
			firsts = append(firsts, vm.first)
			vm.stop()
		}
		sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
		results[i].first = firsts[len(firsts)/2]
	}
	for range *runs {
		for i, g := range guests {
			vm := start(g.run, "128M")
			var r run
			cpu0 := qemuCPU(vm.port)
			r.rps, r.p50, r.p99, r.errs = load(vm.url, *conc, *duration)
			if n := r.rps * duration.Seconds(); n > 0 && cpu0 >= 0 {
				r.cpu = time.Duration(float64(qemuCPU(vm.port)-cpu0) / n)
			}
			vm.stop()
			results[i].runs = append(results[i].runs, r)
		}
	}
	for i, g := range guests {
		results[i].minimum = smallest(g.run)
	}
	median := func(r result) run {
		rs := append([]run(nil), r.runs...)
		sort.Slice(rs, func(i, j int) bool { return rs[i].rps < rs[j].rps })
		return rs[len(rs)/2]
	}
	all := func(r result) string {
		var s []string
		for _, x := range r.runs {
			s = append(s, fmt.Sprintf("%.0f", x.rps))
		}
		return strings.Join(s, ", ")
	}

	fmt.Printf("| measure |")
	for _, g := range guests {
		fmt.Printf(" %s |", g.name)
	}
	fmt.Printf("\n|---|%s\n", strings.Repeat("---|", len(guests)))
	row := func(name string, f func(r result) string) {
		fmt.Printf("| %s |", name)
		for _, r := range results {
			fmt.Printf(" %s |", f(r))
		}
		fmt.Println()
	}
	row(fmt.Sprintf("QEMU start to first HTTP 200 (median of %d)", *boots), func(r result) string { return fmt.Sprintf("%.0f ms", ms(r.first)) })
	row(fmt.Sprintf("requests/s, %d keep-alive clients, %v (median of %d)", *conc, *duration, *runs), func(r result) string {
		m := median(r)
		return fmt.Sprintf("%.0f (%d errors)", m.rps, m.errs)
	})
	row("every run's requests/s, in order", all)
	row("host CPU per request, QEMU's threads (median run)", func(r result) string {
		return fmt.Sprintf("%.0f µs", float64(median(r).cpu)/1e3)
	})
	row("latency p50 / p99 (median run)", func(r result) string {
		m := median(r)
		return fmt.Sprintf("%.2f ms / %.2f ms", ms(m.p50), ms(m.p99))
	})
	row("smallest -m serving under load", func(r result) string { return fmt.Sprintf("%d MiB", r.minimum) })
}

// guest is a way to run examples/httpd with port 8080 forwarded from the
// host's port, until ctx ends.
type guest struct {
	name string
	run  func(ctx context.Context, port int, mem string)
}

func stardust(img, machine string) func(context.Context, int, string) {
	return func(ctx context.Context, port int, mem string) {
		vmm.Run(ctx, vmm.Config{Image: img, Machine: machine, Memory: mem, Ports: []string{fmt.Sprintf("%d:8080", port)},
			Stdout: io.Discard, Stderr: io.Discard, Timeout: 5 * time.Minute})
	}
}

type vm struct {
	url   string
	port  int
	first time.Duration
	stop  func()
}

func start(run func(context.Context, int, string), mem string) vm {
	port := freePort()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		run(ctx, port, mem)
		close(done)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := &http.Client{Timeout: 300 * time.Millisecond}
	var first time.Duration
	for time.Since(t0) < 60*time.Second {
		resp, err := c.Get(url + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				first = time.Since(t0)
				break
			}
		}
		select {
		case <-done:
			return vm{url: url, port: port, stop: cancel}
		case <-time.After(5 * time.Millisecond):
		}
	}
	return vm{url: url, port: port, first: first, stop: func() { cancel(); <-done }}
}

func load(url string, c int, d time.Duration) (rps float64, p50, p99 time.Duration, errs int) {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			var mine []time.Duration
			bad := 0
			for time.Now().Before(end) {
				t := time.Now()
				resp, err := cl.Get(url + "/")
				if err != nil {
					bad++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lat) == 0 {
		return 0, 0, 0, errs
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(len(lat)) / d.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100], errs
}

// smallest finds the least -m (MiB) at which the server answers a short load.
func smallest(run func(context.Context, int, string)) int {
	ok := func(mb int) bool {
		v := start(run, fmt.Sprintf("%dM", mb))
		defer v.stop()
		if v.first == 0 {
			return false
		}
		rps, _, _, errs := load(v.url, 8, 2*time.Second)
		return rps > 0 && errs == 0
	}
	lo, hi := 16, 256
	if !ok(hi) {
		return -1
	}
	for hi-lo > 2 {
		mid := (lo + hi) / 2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// qemuCPU returns the CPU time (user and system, all threads) of the QEMU
// process that forwards host port port, or -1 if there is none. Requests
// per second on a shared host drift with the host's speed; the CPU QEMU
// spends per request does much less.
func qemuCPU(port int) time.Duration {
	want := []byte(fmt.Sprintf("tcp:127.0.0.1:%d-", port))
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), "qemu-system") || !strings.Contains(string(cmd), string(want)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			return -1
		}
		// Fields after the command name (which may contain spaces):
		// utime and stime are the 12th and 13th.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 13 {
			return -1
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return -1
		}
		return time.Duration(ut+st) * time.Second / clockTicks
	}
	return -1
}

// clockTicks is Linux's USER_HZ, the unit of /proc's CPU times.
const clockTicks = 100
