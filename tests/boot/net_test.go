package boot_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stardust-go/stardust/internal/syncbuf"
	"github.com/stardust-go/stardust/vmm"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// background boots a VM and returns a function that waits for its end.
func background(t *testing.T, img string, c vmm.Config) func() boot {
	wait, _ := backgroundOut(t, img, c)
	return wait
}

// backgroundOut is background that also returns the live console.
func backgroundOut(t *testing.T, img string, c vmm.Config) (func() boot, *syncbuf.Buffer) {
	t.Helper()
	requireQEMU(t)
	out := &syncbuf.Buffer{}
	c.Image, c.Stdout = img, out
	if c.Timeout == 0 {
		c.Timeout = 3 * time.Minute
	}
	done := make(chan boot, 1)
	go func() {
		res, err := vmm.Run(context.Background(), c)
		if err != nil {
			t.Errorf("run: %v", err)
		}
		done <- boot{out.String(), res}
	}()
	return func() boot { return <-done }, out
}

// waitFor waits until the console shows s.
func waitFor(t *testing.T, out *syncbuf.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the guest never printed %q; console:\n%s", s, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialRetry connects to addr, retrying while the VM boots.
func dialRetry(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			// QEMU accepts host connections before the guest listens; a
			// connection the guest refuses is closed at once.
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connecting to %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getRetry(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHTTPServer: examples/httpd serves the host through -p, including 200
// concurrent connections, then exits when asked.
func TestHTTPServer(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	wait := background(t, image(t, "../../../examples/httpd"), vmm.Config{Ports: []string{fmt.Sprintf("%d:8080", port)}})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if body := getRetry(t, base+"/"); !strings.Contains(body, "Hello from Stardust!") {
		t.Fatalf("GET / = %q", body)
	}

	// 200 clients at once. QEMU's user network accepts host connections
	// with a listen backlog of one, so the host kernel drops most of a
	// burst of SYNs and the clients retry (1 s, 3 s, 7 s, ...): a request
	// that times out is retried, and only a wrong body is an error.
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	deadline := time.Now().Add(4 * time.Minute)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg := fmt.Sprintf("message %d %s", i, strings.Repeat("x", i*10))
			for {
				resp, err := client.Post(base+"/echo", "text/plain", strings.NewReader(msg))
				if err != nil {
					if time.Now().After(deadline) {
						errs <- err
						return
					}
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != msg {
					errs <- fmt.Errorf("request %d: body %d bytes, err %v", i, len(b), err)
				}
				return
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	http.Get(base + "/quit")
	b := wait()
	expectExit(t, b, 0)
}

// TestGuestHTTPClient: a guest program fetches from a server on the host
// (QEMU's user network shows the host as 10.0.2.2).
func TestGuestHTTPClient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello guest, you asked for %s", r.URL.Path)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	b := run(t, image(t, "httpget"), vmm.Config{Net: "user", Args: []string{fmt.Sprintf("http://10.0.2.2:%d/stardust", port)}})
	expectExit(t, b, 0)
	expectOutput(t, b, `status=200 body="hello guest, you asked for /stardust" err=<nil>`)
}

func TestUDPEcho(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	wait, out := backgroundOut(t, image(t, "udpecho"), vmm.Config{Ports: []string{fmt.Sprintf("%d:9001/udp", port)}})
	// A datagram that arrives before the guest listens is answered with
	// "port unreachable", which QEMU's user network reports to the host
	// socket: wait until the guest is ready.
	waitFor(t, out, "ready")
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// UDP may drop a datagram (under load QEMU's user network does), so
	// ping until an echo comes back, then tell the guest to quit.
	buf := make([]byte, 100)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.Write([]byte("ping over udp"))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			if got := string(buf[:n]); got != "PING OVER UDP" {
				t.Fatalf("echo = %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no UDP echo: %v; console:\n%s", err, out.String())
		}
	}
	done := make(chan boot)
	go func() { done <- wait() }()
	for {
		c.Write([]byte("quit"))
		select {
		case b := <-done:
			expectExit(t, b, 0)
			expectOutput(t, b, `echoed [1-9]`)
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func TestListenAddrInUse(t *testing.T) {
	t.Parallel()
	b := run(t, image(t, "addrinuse"), vmm.Config{Net: "user"})
	expectExit(t, b, 0)
	expectOutput(t, b, `first: <nil>\nsecond: listen tcp :7000: bind: address already in use true\nafter close: <nil>`)
}

// TestLargeTransfers sends 100 MiB to the guest and receives 100 MiB from
// it, checking both with SHA-256.
func TestLargeTransfers(t *testing.T) {
	t.Parallel()
	const size = 100 << 20
	port := freePort(t)
	// Upload: the guest hashes what it receives.
	wait := background(t, image(t, "tcpsink"), vmm.Config{Ports: []string{fmt.Sprintf("%d:9000", port)}, Args: []string{"1"}})
	c := dialRetry(t, fmt.Sprintf("127.0.0.1:%d", port))
	h := sha256.New()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 13)
	}
	for sent := 0; sent < size; sent += len(chunk) {
		h.Write(chunk)
		if _, err := c.Write(chunk); err != nil {
			t.Fatalf("upload: %v", err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(c)
	c.Close()
	want := fmt.Sprintf("%d %x <nil>", size, h.Sum(nil))
	if strings.TrimSpace(string(reply)) != want {
		t.Fatalf("guest got %q, want %q", reply, want)
	}
	expectExit(t, wait(), 0)

	// Download: the guest sends a known stream.
	port2 := freePort(t)
	wait = background(t, image(t, "tcpsink"), vmm.Config{Ports: []string{fmt.Sprintf("%d:9000", port2)}, Args: []string{"1", "-send", strconv.Itoa(size)}})
	c = dialRetry(t, fmt.Sprintf("127.0.0.1:%d", port2))
	got := sha256.New()
	wantH := sha256.New()
	n, err := io.Copy(got, c)
	c.Close()
	buf := make([]byte, 64<<10)
	for off := 0; off < size; off += len(buf) {
		for j := range buf {
			buf[j] = byte((off + j) * 7 % 251)
		}
		wantH.Write(buf)
	}
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), wantH.Sum(nil)) {
		t.Fatalf("download: %d bytes, err %v, checksum match %v", n, err, bytes.Equal(got.Sum(nil), wantH.Sum(nil)))
	}
	expectExit(t, wait(), 0)
}
