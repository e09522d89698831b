package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sock"
	wasi "github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// runStock runs a wasi module the way plain wazero would (its own
// poll_oneoff and its experimental pre-opened socket), for comparison with
// Stardust's host. wazero puts the listener at fd 3 when there are no
// pre-opened directories, and Stardust's glue is told so through the same
// variable Stardust's host sets.
func runStock(wasmFile, port string) error {
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	wasm, err := os.ReadFile(wasmFile)
	if err != nil {
		return err
	}
	ctx := sock.WithConfig(context.Background(), sock.NewConfig().WithTCPListener("127.0.0.1", p))
	cache, err := wazero.NewCompilationCacheWithDir(os.TempDir() + "/stardust-bench-wazero")
	if err != nil {
		return err
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	wasi.MustInstantiate(ctx, rt)
	mc := wazero.NewModuleConfig().WithArgs("httpd").WithEnv("STARDUST_LISTEN", "3=8080").
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithStdout(os.Stdout).WithStderr(os.Stderr)
	_, err = rt.InstantiateWithConfig(ctx, wasm, mc)
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stock wazero: %w", err)
	}
	return nil
}
