//go:build linux

// Package wasihost runs a Go program built for GOOS=wasip1 (see
// wasm/gobuild) in-process under wazero, the way `stardust run FILE.wasm`
// does: arguments and environment like the VM target, directories mounted
// with -v, and real TCP listeners on the host for the ports given with -p.
//
// wazero's WASI implementation is used for everything except sockets and
// poll_oneoff: the host owns the listening and accepted sockets itself and
// waits on them with ppoll(2), so an idle guest uses no CPU and a guest
// waiting with a timeout wakes as soon as a connection arrives (wazero alone
// spins on non-blocking descriptors and oversleeps clock subscriptions).
//
// A glue file added at build time (wasm/gobuild/glue/glue_wasip1.go)
// accepts on the pre-opened sockets and splices each connection to the
// port the program listens on in its in-process network.
package wasihost

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	wasi "github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Host is a compiled module with its listeners open, ready to Run once.
type Host struct {
	cfg      Config
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	socks    *sockTable
	addrs    []net.Addr
	listen   string // STARDUST_LISTEN for the glue
	start    time.Time
}

var (
	cacheMu sync.Mutex
	caches  = map[string]wazero.CompilationCache{}
)

// compilationCache returns one cache per directory for the whole process,
// so repeated runs (tests, benchmarks) compile a module once.
func compilationCache(dir string) (wazero.CompilationCache, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "stardust", "wazero")
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if c, ok := caches[dir]; ok {
		return c, nil
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, err
	}
	caches[dir] = c
	return c, nil
}

// New compiles wasm and opens the host listeners, so that Addrs is known
// before the program starts.
func New(ctx context.Context, wasm []byte, cfg Config) (*Host, error) {
	cache, err := compilationCache(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, start: time.Now()}
	h.rt = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).WithCloseOnContextDone(true))
	ok := false
	defer func() {
		if !ok {
			h.Close()
		}
	}()
	if h.socks, err = newSockTable(); err != nil {
		return nil, err
	}
	if err := h.instantiateWASI(ctx); err != nil {
		return nil, err
	}
	if h.compiled, err = h.rt.CompileModule(ctx, wasm); err != nil {
		return nil, fmt.Errorf("compiling module: %w", err)
	}
	var spec []string
	for _, p := range cfg.Ports {
		fd, addr, err := h.socks.listen(p.HostAddr)
		if err != nil {
			return nil, fmt.Errorf("port %s -> %d: %w", p.HostAddr, p.GuestPort, err)
		}
		h.addrs = append(h.addrs, addr)
		spec = append(spec, fmt.Sprintf("%d=%d", fd, p.GuestPort))
	}
	h.listen = strings.Join(spec, ",")
	ok = true
	return h, nil
}

// instantiateWASI registers wasi_snapshot_preview1: wazero's functions,
// with the socket ones wrapped to serve host sockets and poll_oneoff
// replaced. wazero's definitions are taken from a compiled copy of its
// module, whose Go functions can be called with the guest as caller.
func (h *Host) instantiateWASI(ctx context.Context) error {
	tmp := h.rt.NewHostModuleBuilder(wasi.ModuleName)
	wasi.NewFunctionExporter().ExportFunctions(tmp)
	defs, err := tmp.Compile(ctx)
	if err != nil {
		return err
	}
	defer defs.Close(ctx)
	overrides := h.socks.overrides()
	b := h.rt.NewHostModuleBuilder(wasi.ModuleName)
	for name, def := range defs.ExportedFunctions() {
		next, ok := def.GoFunction().(api.GoModuleFunction)
		if !ok {
			return fmt.Errorf("wazero's %s is not a Go module function", name)
		}
		fn := next
		if name == "poll_oneoff" {
			fn = api.GoModuleFunc(h.pollOneoff)
		} else if ov, ok := overrides[name]; ok {
			fn = api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				fd := uint32(stack[0])
				if s := h.socks.get(fd); s != nil {
					ov(ctx, mod, fd, s, stack)
					if traceHost {
						traceLog("%s fd=%d host=%d nonblock=%v -> errno %d", name, fd, s.hostFD, s.nonblock, stack[0])
					}
					return
				}
				next.Call(ctx, mod, stack)
			})
		}
		b.NewFunctionBuilder().WithGoModuleFunction(fn, def.ParamTypes(), def.ResultTypes()).
			WithParameterNames(def.ParamNames()...).Export(name)
	}
	_, err = b.Instantiate(ctx)
	return err
}

// traceHost logs poll_oneoff and socket calls to stderr when
// STARDUST_WASI_TRACE is set: the only way to see why a guest is stuck.
var traceHost = os.Getenv("STARDUST_WASI_TRACE") != ""

func traceLog(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "wasihost: "+format+"\n", args...)
}

// nanotime is the guest's monotonic clock; poll_oneoff's deadlines use the
// same scale.
func (h *Host) nanotime() int64 { return int64(time.Since(h.start)) }

// Addrs returns the host addresses of the listeners, in Config.Ports order.
func (h *Host) Addrs() []net.Addr { return h.addrs }

// Run runs the program to completion and returns its exit status. When ctx
// is done the program is stopped and ctx's error returned.
func (h *Host) Run(ctx context.Context) (int, error) {
	fsc := wazero.NewFSConfig()
	for _, m := range h.cfg.Mounts {
		if m.ReadOnly {
			fsc = fsc.WithReadOnlyDirMount(m.HostDir, m.GuestDir)
		} else {
			fsc = fsc.WithDirMount(m.HostDir, m.GuestDir)
		}
	}
	mc := wazero.NewModuleConfig().
		WithFSConfig(fsc).
		WithSysWalltime().
		WithNanotime(h.nanotime, 1).
		WithSysNanosleep().
		WithRandSource(rand.Reader). // wazero's default source is deterministic
		WithStdin(orEmpty(h.cfg.Stdin)).
		WithStdout(orDiscard(h.cfg.Stdout)).
		WithStderr(orDiscard(h.cfg.Stderr))
	args := h.cfg.Args
	if len(args) == 0 {
		args = []string{"main.wasm"}
	}
	mc = mc.WithArgs(args...).WithName("")
	for _, kv := range h.cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		mc = mc.WithEnv(k, v)
	}
	if h.listen != "" {
		mc = mc.WithEnv("STARDUST_LISTEN", h.listen)
	}

	stop := context.AfterFunc(ctx, h.socks.stop)
	defer stop()
	// When the program is gone its sockets go too, so clients see the
	// connection close instead of waiting on a listener nobody accepts on.
	defer h.socks.closeAll()
	mod, err := h.rt.InstantiateModule(ctx, h.compiled, mc)
	if mod != nil {
		mod.Close(context.Background())
	}
	var exit *sys.ExitError
	switch {
	case err == nil:
		return 0, nil
	case ctx.Err() != nil:
		return -1, ctx.Err()
	case errors.As(err, &exit):
		return int(exit.ExitCode()), nil
	}
	return -1, err
}

// Close releases the runtime and every host socket.
func (h *Host) Close() error {
	if h.socks != nil {
		h.socks.closeAll()
	}
	return h.rt.Close(context.Background())
}

func orEmpty(r io.Reader) io.Reader {
	if r == nil {
		return strings.NewReader("")
	}
	return r
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
