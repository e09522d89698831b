package wasihost

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/internal/syncbuf"
	"github.com/stardust-go/stardust/wasm/gobuild"
)

var (
	buildOnce sync.Once
	buildWASM []byte
	buildErr  error
)

// httpdWASM builds examples/httpd for wasi once per test binary.
func httpdWASM(t *testing.T) []byte {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wasihost-test-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "httpd.wasm")
		buildErr = gobuild.Build(context.Background(), gobuild.Options{
			Pkg: "../../examples/httpd", Target: gobuild.WASI, Output: out})
		if buildErr == nil {
			buildWASM, buildErr = os.ReadFile(out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildWASM
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHTTPDEndToEnd runs the unmodified examples/httpd under the host:
// real HTTP requests over loopback, an idle period that must not burn CPU,
// and /quit whose exit status must come back from Run.
func TestHTTPDEndToEnd(t *testing.T) {
	wasm := httpdWASM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr syncbuf.Buffer
	h, err := New(ctx, wasm, Config{
		Args:   []string{"httpd"},
		Ports:  []Port{{HostAddr: "127.0.0.1:0", GuestPort: 8080}},
		Stderr: &stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	base := "http://" + h.Addrs()[0].String()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := h.Run(ctx)
		done <- result{code, err}
	}()

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v (guest stderr: %s)", path, err, stderr.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s %s", path, resp.Status, b)
		}
		return string(b)
	}
	if got := get("/"); !strings.Contains(got, "Hello from Stardust! (wasip1/wasm") {
		t.Fatalf("GET /: %q", got)
	}
	// examples/httpd echoes at most 512 bytes (natively too: its handler
	// writes while it reads), so the payload stays below that.
	payload := strings.Repeat("stardust ", 50)
	resp, err := http.Post(base+"/echo", "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	echoed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(echoed) != payload || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("POST /echo: %d bytes, content type %q", len(echoed), resp.Header.Get("Content-Type"))
	}
	// Many connections at once go through the splice in the guest.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := fmt.Sprintf("request %d", i)
			resp, err := http.Post(base+"/echo", "text/plain", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != body {
				errs <- fmt.Errorf("echo %d: got %q", i, b)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	http.DefaultClient.CloseIdleConnections()

	// Idle: the guest waits in poll_oneoff, which must sleep, not spin.
	// wazero's own poll_oneoff keeps a core at 100% here.
	before := cpuTime()
	time.Sleep(2 * time.Second)
	if used := cpuTime() - before; used > 400*time.Millisecond {
		t.Errorf("idle guest used %v of CPU in 2s; want near zero", used)
	} else {
		t.Logf("idle guest used %v of CPU in 2s", used)
	}

	select {
	case r := <-done:
		t.Fatalf("program stopped while idle: %d, %v; stderr:\n%s", r.code, r.err, stderr.String())
	default:
	}
	// httpd's /quit exits from a new goroutine; on single-threaded wasm that
	// goroutine can run before the response has left the in-process
	// network, so the client may see the connection close instead of "bye".
	// What must hold is that the program exits with status 0 and the
	// connection does not hang.
	client := &http.Client{Timeout: 30 * time.Second}
	if resp, err := client.Get(base + "/quit"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "bye\n" {
			t.Errorf("GET /quit: %q", b)
		}
	} else if strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("GET /quit hung: %v", err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.code != 0 {
			t.Fatalf("Run = %d, %v; want 0, nil", r.code, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("program did not exit after /quit")
	}
	if !strings.Contains(stderr.String(), "httpd listening on :8080") {
		t.Errorf("guest stderr: %q", stderr.String())
	}
}

// TestExitStatus checks that a failing program's status comes back: httpd
// calls log.Fatal (status 1) when it cannot listen.
func TestExitStatus(t *testing.T) {
	wasm := httpdWASM(t)
	ctx := context.Background()
	var stderr syncbuf.Buffer
	h, err := New(ctx, wasm, Config{Args: []string{"httpd"}, Env: []string{"ADDR=not an address"}, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	code, err := h.Run(ctx)
	if err != nil || code != 1 {
		t.Fatalf("Run = %d, %v; want 1, nil (stderr %q)", code, err, stderr.String())
	}
}

// TestCancel checks that a cancelled context stops a program that is
// blocked waiting for connections.
func TestCancel(t *testing.T) {
	wasm := httpdWASM(t)
	ctx, cancel := context.WithCancel(context.Background())
	h, err := New(ctx, wasm, Config{Ports: []Port{{HostAddr: "127.0.0.1:0", GuestPort: 8080}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	if _, err := h.Run(ctx); err != context.Canceled {
		t.Fatalf("Run after cancel: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("Run took %v to stop", d)
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Port
		bad  bool
	}{
		{in: "8080:80", want: Port{"127.0.0.1:8080", 80}},
		{in: "0.0.0.0:9000:8080", want: Port{"0.0.0.0:9000", 8080}},
		{in: "[::1]:9000:8080/tcp", want: Port{"[::1]:9000", 8080}},
		{in: "53:53/udp", bad: true},
		{in: "8080", bad: true},
		{in: "x:80", bad: true},
		{in: "80:0", bad: true},
	} {
		got, err := ParsePort(c.in)
		if (err != nil) != c.bad || (!c.bad && got != c.want) {
			t.Errorf("ParsePort(%q) = %+v, %v", c.in, got, err)
		}
	}
	dir := t.TempDir()
	if m, err := ParseMount(dir + ":/data:ro"); err != nil || m != (Mount{dir, "/data", true}) {
		t.Errorf("ParseMount: %+v, %v", m, err)
	}
	for _, bad := range []string{dir, dir + ":data", "/does/not/exist:/x"} {
		if _, err := ParseMount(bad); err == nil {
			t.Errorf("ParseMount(%q) succeeded", bad)
		}
	}
}
