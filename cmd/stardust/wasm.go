package main

// The WebAssembly targets: `stardust build -target wasi|browser` and
// `stardust run FILE.wasm`. The work is done by the wasm/... packages; this
// file only maps the CLI options onto them.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/stardust-go/stardust/wasm/gobuild"
	"github.com/stardust-go/stardust/wasm/wasihost"
)

// buildWASM builds o.Pkg for o.Target "wasi" (o.Output is a .wasm file) or
// "browser" (o.Output is a directory that receives a static bundle).
func buildWASM(o buildOptions) error {
	ctx := context.Background()
	switch o.Target {
	case "wasi":
		if len(o.Files) > 0 {
			return errors.New("-files is not used by the wasi target: mount host directories at run time with `stardust run -v HOSTDIR:GUESTDIR`")
		}
		return gobuild.Build(ctx, gobuild.Options{Pkg: o.Pkg, Target: gobuild.WASI, Output: o.Output})
	case "browser":
		return buildBrowser(ctx, o)
	}
	return fmt.Errorf("unknown wasm target %q", o.Target)
}

// runWASI runs a module built with -target wasi in-process and returns its
// exit status: 124 when -timeout passed, 130 when interrupted.
func runWASI(wasmFile string, o runOptions) (int, error) {
	wasm, err := os.ReadFile(wasmFile)
	if err != nil {
		return 0, err
	}
	cfg := wasihost.Config{
		Args:   append([]string{strings.TrimSuffix(filepath.Base(wasmFile), ".wasm")}, o.Args...),
		Env:    o.Env,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
	for _, p := range o.Ports {
		port, err := wasihost.ParsePort(p)
		if err != nil {
			return 0, err
		}
		cfg.Ports = append(cfg.Ports, port)
	}
	for _, v := range o.Volumes {
		m, err := wasihost.ParseMount(v)
		if err != nil {
			return 0, err
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	h, err := wasihost.New(ctx, wasm, cfg)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	for i, a := range h.Addrs() {
		fmt.Fprintf(os.Stderr, "stardust: http://%s -> guest port %d\n", a, cfg.Ports[i].GuestPort)
	}
	status, err := h.Run(ctx)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(os.Stderr, "stardust: -timeout %v passed\n", o.Timeout)
		return 124, nil
	case errors.Is(err, context.Canceled):
		return 130, nil
	}
	return status, err
}
