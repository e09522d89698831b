// Command wasm measures Stardust's WebAssembly targets and prints a
// markdown table for docs/benchmarks.md:
//
//	go run ./bench/wasm [-d 3s] [-c 8]
//
// It builds examples/httpd natively, for wasi and for the browser, then
// measures sizes (raw and gzip), HTTP throughput and latency of the native
// program, of `stardust run` (Stardust's host) and of stock wazero (its own
// poll_oneoff), idle CPU and memory of each, and in headless Chromium the
// time from page load to the first response and requests/s through the
// Service Worker. Run it from the repository root on an otherwise idle
// machine; numbers vary with the machine.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stardust-go/stardust/wasm/browser"
	"github.com/stardust-go/stardust/wasm/browser/cdp"
	"github.com/stardust-go/stardust/wasm/gobuild"
)

var (
	duration    = flag.Duration("d", 3*time.Second, "load duration per server")
	concurrency = flag.Int("c", 8, "concurrent keep-alive connections")
	idleFor     = flag.Duration("idle", 2*time.Second, "idle period over which host CPU is measured")
)

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-stock-child" {
		if err := runStock(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "stardust-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	native := filepath.Join(tmp, "httpd")
	wasiFile := filepath.Join(tmp, "httpd.wasm")
	bundle := filepath.Join(tmp, "bundle")
	stardust := filepath.Join(tmp, "stardust")
	self, _ := os.Executable()
	steps := []func() error{
		func() error { return gocmd("build", "-trimpath", "-ldflags=-s -w", "-o", native, "./examples/httpd") },
		func() error { return gocmd("build", "-o", stardust, "./cmd/stardust") },
		func() error {
			return gobuild.Build(ctx, gobuild.Options{Pkg: "./examples/httpd", Target: gobuild.WASI, Output: wasiFile})
		},
		func() error { return browser.Build(ctx, browser.Options{Pkg: "./examples/httpd", Output: bundle}) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}

	fmt.Printf("Machine: %d CPUs (%s); load: %d keep-alive connections for %v; GET / of examples/httpd.\n\n", numCPU(), cpuModel(), *concurrency, *duration)
	fmt.Println("| artefact | raw | gzip |")
	fmt.Println("| --- | ---: | ---: |")
	for _, f := range []struct{ name, path string }{
		{"native linux/amd64 binary (-s -w)", native},
		{"wasi module (httpd.wasm)", wasiFile},
		{"browser app.wasm", filepath.Join(bundle, "app.wasm")},
		{"browser bundle, all files", bundle},
	} {
		raw, gz, err := sizes(f.path)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %s | %s |\n", f.name, mib(raw), mib(gz))
	}

	fmt.Println("\n| server | req/s | p50 | p99 | idle host CPU | RSS after load |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: |")
	servers := []struct {
		name string
		cmd  func(port string) *exec.Cmd
	}{
		{"native", func(port string) *exec.Cmd {
			c := exec.Command(native)
			c.Env = append(os.Environ(), "ADDR=127.0.0.1:"+port)
			return c
		}},
		{"wasi, `stardust run` (own poll_oneoff)", func(port string) *exec.Cmd {
			return exec.Command(stardust, "run", "-p", "127.0.0.1:"+port+":8080", wasiFile)
		}},
		{"wasi, stock wazero poll_oneoff", func(port string) *exec.Cmd {
			return exec.Command(self, "-stock-child", wasiFile, port)
		}},
	}
	for _, s := range servers {
		r, err := measureServer(s.cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Printf("| %s | %.0f | %v | %v | %.1f%% of a core | %s |\n", s.name, r.rps, r.p50, r.p99, r.idleCPU*100, mib(r.rss))
	}

	b, err := measureBrowser(ctx, bundle, tmp)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	fmt.Println("\n| browser (headless Chromium, cold profile each load) | value |")
	fmt.Println("| --- | ---: |")
	fmt.Printf("| worker boot: fetch + compile + start of app.wasm (median of %d) | %d ms |\n", len(b.boot), median(b.boot))
	fmt.Printf("| page load to first served response (median of %d) | %d ms |\n", len(b.first), median(b.first))
	fmt.Printf("| requests/s through the worker, sequential fetch() | %.0f |\n", b.seq)
	fmt.Printf("| requests/s through the worker, %d fetch() in flight | %.0f |\n", *concurrency, b.par)
	return nil
}

func gocmd(args ...string) error {
	c := exec.Command("go", args...)
	c.Stderr = os.Stderr
	return c.Run()
}

// sizes returns the raw and gzip -9 size of a file or of all files in a dir.
func sizes(path string) (raw, gz int64, err error) {
	err = filepath.Walk(path, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		w.Write(data)
		w.Close()
		raw += int64(len(data))
		gz += int64(buf.Len())
		return nil
	})
	return
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

type serverResult struct {
	rps      float64
	p50, p99 time.Duration
	idleCPU  float64 // fraction of one core
	rss      int64
}

func freePort() string {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

func measureServer(mk func(port string) *exec.Cmd) (serverResult, error) {
	var r serverResult
	port := freePort()
	cmd := mk(port)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := "http://127.0.0.1:" + port + "/"
	deadline := time.Now().Add(60 * time.Second) // first runs compile the module
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("server did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	load(url, time.Second) // warm up
	lat, n := load(url, *duration)
	r.rps = float64(n) / duration.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		r.p50 = lat[len(lat)/2].Round(time.Microsecond)
		r.p99 = lat[len(lat)*99/100].Round(time.Microsecond)
	}
	r.rss = procRSS(cmd.Process.Pid)
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	before := procCPU(cmd.Process.Pid)
	time.Sleep(*idleFor)
	r.idleCPU = (procCPU(cmd.Process.Pid) - before).Seconds() / idleFor.Seconds()
	return r, nil
}

// load runs *concurrency keep-alive clients against url for d.
func load(url string, d time.Duration) ([]time.Duration, int) {
	tr := &http.Transport{MaxIdleConnsPerHost: *concurrency}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	results := make(chan []time.Duration)
	stop := time.Now().Add(d)
	for i := 0; i < *concurrency; i++ {
		go func() {
			var lat []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(t0))
			}
			results <- lat
		}()
	}
	var all []time.Duration
	for i := 0; i < *concurrency; i++ {
		all = append(all, <-results...)
	}
	return all, len(all)
}

// procCPU is the user+system time of a process, from /proc.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func procRSS(pid int) int64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func numCPU() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(data), "\nprocessor") + 1
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(line[strings.Index(line, ":")+1:])
		}
	}
	return "unknown CPU"
}

func median(xs []int) int {
	s := append([]int(nil), xs...)
	sort.Ints(s)
	return s[len(s)/2]
}

type browserResult struct {
	boot, first []int
	seq, par    float64
}

// measureBrowser loads the bundle three times with fresh profiles (so the
// worker, the wasm download and its compilation are all cold), then counts
// requests through the last page's worker.
func measureBrowser(ctx context.Context, bundle, tmp string) (browserResult, error) {
	var r browserResult
	chrome, err := cdp.Find()
	if err != nil {
		return r, err
	}
	ln, url, err := browser.Listen("127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := &http.Server{Handler: browser.Handler(bundle)}
	go srv.Serve(ln)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for i := 0; i < 3; i++ {
		b, err := cdp.Launch(chrome, filepath.Join(tmp, fmt.Sprint("profile", i)))
		if err != nil {
			return r, err
		}
		page, err := b.NewPage(ctx, url)
		if err != nil {
			b.Close()
			return r, err
		}
		var st struct {
			State                   string
			BootMs, FirstResponseMs int
		}
		for st.State != "ready" && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			page.Eval(ctx, "window.stardust || {}", &st)
			if st.State == "failed" {
				b.Close()
				return r, fmt.Errorf("boot failed")
			}
		}
		r.boot = append(r.boot, st.BootMs)
		r.first = append(r.first, st.FirstResponseMs)
		if i == 2 {
			const seq = `(async () => { let n = 0; const end = performance.now() + %d;
				while (performance.now() < end) { await (await fetch("app/")).text(); n++; } return n; })()`
			const par = `(async () => { let n = 0; const end = performance.now() + %d;
				const worker = async () => { while (performance.now() < end) { await (await fetch("app/")).text(); n++; } };
				await Promise.all(Array.from({length: %d}, worker)); return n; })()`
			ms := duration.Milliseconds()
			var n int
			if err := page.Eval(ctx, fmt.Sprintf(seq, ms), &n); err != nil {
				b.Close()
				return r, err
			}
			r.seq = float64(n) / duration.Seconds()
			if err := page.Eval(ctx, fmt.Sprintf(par, ms, *concurrency), &n); err != nil {
				b.Close()
				return r, err
			}
			r.par = float64(n) / duration.Seconds()
		}
		b.Close()
	}
	return r, nil
}
