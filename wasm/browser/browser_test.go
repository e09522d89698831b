package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stardust-go/stardust/wasm/browser/cdp"
)

// bundles are built once per test binary: each takes a Go compile.
var (
	bundleMu   sync.Mutex
	bundles    = map[string]string{}
	bundleRoot string
)

func bundle(t *testing.T, pkg string, files ...string) string {
	t.Helper()
	bundleMu.Lock()
	defer bundleMu.Unlock()
	key := pkg + "|" + strings.Join(files, ",")
	if dir, ok := bundles[key]; ok {
		return dir
	}
	if bundleRoot == "" {
		var err error
		if bundleRoot, err = os.MkdirTemp("", "stardust-bundles-"); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(bundleRoot, fmt.Sprint(len(bundles)))
	if err := Build(context.Background(), Options{Pkg: pkg, Output: dir, Files: files}); err != nil {
		t.Fatal(err)
	}
	bundles[key] = dir
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bundleRoot != "" {
		os.RemoveAll(bundleRoot)
	}
	os.Exit(code)
}

func TestBundleLayout(t *testing.T) {
	dir := bundle(t, "../../examples/httpd")
	if err := CheckBundle(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.wasm", "wasm_exec.js", "stardust-fs.js", "sw.js", "index.html", "stardust.json"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs.json")); err == nil {
		t.Error("rootfs.json written without -files")
	}
	if err := CheckBundle(t.TempDir()); err == nil {
		t.Error("empty directory accepted as a bundle")
	}
	// Served with the types browsers insist on for workers and modules.
	srv := httptest.NewServer(Handler(dir))
	defer srv.Close()
	for name, want := range map[string]string{"sw.js": "javascript", "app.wasm": "application/wasm", "stardust.json": "application/json"} {
		resp, err := http.Get(srv.URL + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, want) || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: Content-Type %q, Cache-Control %q", name, ct, resp.Header.Get("Cache-Control"))
		}
	}
}

func TestBadFilesSpec(t *testing.T) {
	err := Build(context.Background(), Options{Pkg: "../../examples/httpd", Output: t.TempDir(), Files: []string{"/does/not/exist:/x"}})
	if err == nil || !strings.Contains(err.Error(), "/does/not/exist") {
		t.Fatalf("Build with a missing -files tree: %v", err)
	}
}

// browserPage starts headless Chromium on a bundle served over loopback and
// waits for the boot page to show the app.
func browserPage(t *testing.T, ctx context.Context, dir string) *cdp.Page {
	t.Helper()
	chrome, err := cdp.Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI must run the browser test (scripts/setup-debian.sh installs chromium)", err)
		}
		t.Skip(err)
	}
	srv := httptest.NewServer(Handler(dir))
	t.Cleanup(srv.Close)
	b, err := cdp.Launch(chrome, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	page, err := b.NewPage(ctx, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		State, Error            string
		BootMs, FirstResponseMs int
	}
	for {
		err := page.Eval(ctx, "window.stardust || {state: 'loading'}", &state)
		if err == nil && state.State != "starting" && state.State != "loading" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("page did not boot: state %+v, %v; browser stderr:\n%s", state, err, b.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if state.State != "ready" {
		t.Fatalf("boot failed: %+v", state)
	}
	t.Logf("worker boot %d ms, page load to first app response %d ms", state.BootMs, state.FirstResponseMs)
	return page
}

// fetchJS fetches a URL from the page and returns "STATUS BODY".
func fetchJS(t *testing.T, ctx context.Context, page *cdp.Page, url, init string) string {
	t.Helper()
	if init == "" {
		init = "{}"
	}
	var out string
	expr := fmt.Sprintf("fetch(%q, %s).then(async r => r.status + ' ' + await r.text())", url, init)
	if err := page.Eval(ctx, expr, &out); err != nil {
		t.Fatalf("fetch %s: %v", url, err)
	}
	return out
}

// TestBrowserHTTPD loads examples/httpd's bundle in headless Chromium and
// talks to the Go server through the Service Worker.
func TestBrowserHTTPD(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	page := browserPage(t, ctx, bundle(t, "../../examples/httpd"))

	var frame string
	if err := page.Eval(ctx, "document.getElementById('app').contentDocument.body.innerText", &frame); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(frame, "Hello from Stardust! (js/wasm") {
		t.Errorf("app frame shows %q", frame)
	}
	if got := fetchJS(t, ctx, page, "app/", ""); !strings.HasPrefix(got, "200 Hello from Stardust! (js/wasm") {
		t.Errorf("GET app/: %q", got)
	}
	var echo string
	err := page.Eval(ctx, `fetch("app/echo", {method: "POST", body: "ping from the page", headers: {"Content-Type": "text/x-test"}})
		.then(async r => r.status + " " + r.headers.get("Content-Type") + " " + await r.text())`, &echo)
	if err != nil || echo != "200 text/x-test ping from the page" {
		t.Errorf("POST app/echo: %q, %v", echo, err)
	}
	if got := fetchJS(t, ctx, page, "app/", `{method: "HEAD"}`); got != "200 " {
		t.Errorf("HEAD app/: %q", got)
	}
	if got := fetchJS(t, ctx, page, "app/nothing-here", ""); !strings.HasPrefix(got, "404 ") {
		t.Errorf("GET app/nothing-here: %q", got)
	}
	// The bundle's own files are not the program's.
	if got := fetchJS(t, ctx, page, "stardust.json", ""); !strings.Contains(got, `"port": 8080`) {
		t.Errorf("GET stardust.json: %q", got)
	}
	shot, err := page.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), "httpd.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}

// TestBrowserFiles checks embed.FS, the packed root filesystem (read-only),
// cookies and redirects inside the worker.
func TestBrowserFiles(t *testing.T) {
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "etc"), 0o755)
	os.WriteFile(filepath.Join(tree, "etc", "motd"), []byte("packed at build time\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "etc", "other"), []byte("x"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	page := browserPage(t, ctx, bundle(t, "../../examples/wasm-files", tree+":/data"))

	// In order: the cookie checks depend on it.
	for _, c := range []struct{ url, want string }{
		{"app/static/hello.txt", "200 embedded hello\n"},
		{"app/file?path=/data/etc/motd", "200 packed at build time\n"},
		{"app/file?path=data/etc/motd", "200 packed at build time\n"}, // relative to "/"
		{"app/ls?path=/data/etc", "200 motd other\n"},
		{"app/file?path=/data/etc/missing", "404 open /data/etc/missing: No such file or directory\n"},
		{"app/write?path=/data/etc/motd", "200 open /data/etc/motd: Read-only file system\n"},
		{"app/whoami", "200 nobody\n"},
		{"app/login?name=ada", "200 ada\n"}, // Set-Cookie kept by the worker, redirect kept under app/
		{"app/whoami?again", "200 ada\n"},
	} {
		if got := fetchJS(t, ctx, page, c.url, ""); got != c.want {
			t.Errorf("GET %s: %q, want %q", c.url, got, c.want)
		}
	}
	var loc string
	if err := page.Eval(ctx, `fetch("app/login?name=bob", {redirect: "manual"}).then(r => r.type)`, &loc); err != nil || loc != "opaqueredirect" {
		t.Errorf("manual redirect: %q, %v", loc, err)
	}
}
