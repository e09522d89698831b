package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stardust-go/stardust/wasm/browser"
)

// TestWASMCommands goes through the functions build.go, run.go and main.go
// call for the wasm targets.
func TestWASMCommands(t *testing.T) {
	dir := t.TempDir()
	wasmFile := filepath.Join(dir, "httpd.wasm")
	if err := buildWASM(buildOptions{Pkg: "../../examples/httpd", Target: "wasi", Output: wasmFile}); err != nil {
		t.Fatal(err)
	}
	// httpd exits with log.Fatal's status 1 when it cannot listen.
	status, err := runWASI(wasmFile, runOptions{Env: []string{"ADDR=bad address"}})
	if err != nil || status != 1 {
		t.Errorf("runWASI = %d, %v; want 1, nil", status, err)
	}
	// A program that never exits is stopped by -timeout with status 124.
	status, err = runWASI(wasmFile, runOptions{Ports: []string{"127.0.0.1:0:8080"}, Timeout: time.Second})
	if err != nil || status != 124 {
		t.Errorf("runWASI with -timeout = %d, %v; want 124, nil", status, err)
	}
	if _, err := runWASI(wasmFile, runOptions{Ports: []string{"53:53/udp"}}); err == nil || !strings.Contains(err.Error(), "TCP") {
		t.Errorf("runWASI with a UDP port: %v", err)
	}
	if _, err := runWASI(wasmFile, runOptions{Volumes: []string{"/no/such/dir:/data"}}); err == nil {
		t.Error("runWASI with a missing volume succeeded")
	}
	if err := buildWASM(buildOptions{Pkg: "../../examples/httpd", Target: "wasi", Output: wasmFile, Files: []string{dir}}); err == nil {
		t.Error("-files accepted for wasi")
	}

	site := filepath.Join(dir, "site")
	if err := buildWASM(buildOptions{Pkg: "../../examples/httpd", Target: "browser", Output: site}); err != nil {
		t.Fatal(err)
	}
	if err := browser.CheckBundle(site); err != nil {
		t.Error(err)
	}
	if got := cmdServe([]string{dir}); got != 1 {
		t.Errorf("serve of a non-bundle = %d, want 1", got)
	}
	if got := cmdServe(nil); got != 2 {
		t.Errorf("serve without a directory = %d, want 2", got)
	}
}
