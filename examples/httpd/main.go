// Command httpd is an ordinary net/http server: the example Stardust boots as a
// VM image, a WASI module or a browser tab. It has no Stardust imports.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
)

func main() {
	addr := ":8080"
	if v := os.Getenv("ADDR"); v != "" {
		addr = v
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello from Stardust! (%s/%s, %d CPUs)\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// Read the whole body first: an HTTP/1 server may close it once the
		// response headers are flushed.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Write(body)
	})
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		go func() { os.Exit(0) }()
	})
	log.Printf("httpd listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
