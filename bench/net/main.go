// Command net measures examples/httpd as a Stardust VM under QEMU's user
// networking and prints a table: time from QEMU start to the first HTTP
// 200, requests per second and latency (p50/p99) under a keep-alive load,
// and the smallest -m at which the server still answers under load.
// Run from the repository root:
//
//	go run ./bench/net [-c 16] [-d 10s]
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
	"sync"
	"time"

	"github.com/stardust-go/stardust/toolchain"
	"github.com/stardust-go/stardust/vmm"
)

var (
	conc     = flag.Int("c", 16, "concurrent keep-alive clients")
	duration = flag.Duration("d", 10*time.Second, "load duration")
	boots    = flag.Int("n", 5, "boots for the boot-time median")
)

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "stardust-bench-net-")
	check(err)
	defer os.RemoveAll(tmp)
	img := filepath.Join(tmp, "httpd.img")
	check(toolchain.Build(toolchain.Options{Pkg: "./examples/httpd", Output: img}))

	var firsts []time.Duration
	for i := 0; i < *boots; i++ {
		vm := start(img, "128M")
		firsts = append(firsts, vm.first)
		vm.stop()
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })

	vm := start(img, "128M")
	rps, p50, p99, errs := load(vm.url, *conc, *duration)
	vm.stop()

	fmt.Printf("| measure | value |\n|---|---|\n")
	fmt.Printf("| QEMU start to first HTTP 200 (median of %d) | %.0f ms |\n", *boots, ms(firsts[len(firsts)/2]))
	fmt.Printf("| requests/s, %d keep-alive clients, %v | %.0f (%d errors) |\n", *conc, *duration, rps, errs)
	fmt.Printf("| latency p50 / p99 | %.2f ms / %.2f ms |\n", ms(p50), ms(p99))
	fmt.Printf("| smallest -m serving under load | %d MiB |\n", smallest(img))
}

type vm struct {
	url   string
	first time.Duration
	stop  func()
}

func start(img, mem string) vm {
	port := freePort()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		vmm.Run(ctx, vmm.Config{Image: img, Memory: mem, Ports: []string{fmt.Sprintf("%d:8080", port)}, Stdout: io.Discard, Stderr: io.Discard, Timeout: 5 * time.Minute})
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
			return vm{url: url, stop: cancel}
		case <-time.After(5 * time.Millisecond):
		}
	}
	return vm{url: url, first: first, stop: func() { cancel(); <-done }}
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
func smallest(img string) int {
	ok := func(mb int) bool {
		v := start(img, fmt.Sprintf("%dM", mb))
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
