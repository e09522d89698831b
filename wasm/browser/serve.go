package browser

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
)

// CheckBundle reports whether dir looks like a bundle made by Build.
func CheckBundle(dir string) error {
	for _, name := range []string{"index.html", "sw.js", "stardust.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%s is not a Stardust browser bundle (no %s); build one with `stardust build -target browser -o DIR PKG`", dir, name)
		}
	}
	return nil
}

// Handler serves a bundle directory. It is a plain static file server: the
// bundle needs nothing else. Every response is revalidated so that a
// rebuilt bundle (and its Service Worker) is picked up on reload.
func Handler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// Listen opens addr for Serve and returns the URL to open: http on a
// loopback name, which browsers treat as a secure context.
func Listen(addr string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		host = "localhost"
	}
	return ln, "http://" + net.JoinHostPort(host, port) + "/", nil
}
