// Command wasm-files is an ordinary net/http server that reads files two
// ways: from an embed.FS compiled into it and with os.ReadFile from the
// root filesystem (packed with `stardust build -files`). Stardust's browser
// tests use it to check both in a Service Worker; it has no Stardust imports.
package main

import (
	"embed"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
)

//go:embed static
var static embed.FS

func main() {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.FileServerFS(static))
	mux.HandleFunc("GET /file", func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(data)
	})
	mux.HandleFunc("GET /ls", func(w http.ResponseWriter, r *http.Request) {
		entries, err := os.ReadDir(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		fmt.Fprintln(w, strings.Join(names, " "))
	})
	mux.HandleFunc("GET /write", func(w http.ResponseWriter, r *http.Request) {
		err := os.WriteFile(r.URL.Query().Get("path"), []byte("x"), 0o644)
		fmt.Fprintln(w, err)
	})
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "user", Value: r.URL.Query().Get("name"), Path: "/"})
		http.Redirect(w, r, "/whoami", http.StatusFound)
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("user")
		if err != nil {
			fmt.Fprintln(w, "nobody")
			return
		}
		fmt.Fprintln(w, c.Value)
	})
	addr := ":8080"
	if v := os.Getenv("ADDR"); v != "" {
		addr = v
	}
	log.Printf("wasm-files listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
