// Package browser builds and serves Stardust's browser target: a static
// bundle in which an unmodified Go program's HTTP server runs inside a
// Service Worker and answers the page's requests under the app/ prefix.
//
// A bundle is a directory any static file server can host (over https, or
// http on localhost, since Service Workers need a secure context):
//
//	index.html        boot page: registers the worker, shows progress, then app/
//	sw.js             the Service Worker: runs app.wasm, turns requests into calls
//	stardust-fs.js    read-only filesystem shim for Go's syscall/js file calls
//	wasm_exec.js      Go's loader, copied from the GOROOT that built app.wasm
//	app.wasm          the program, built with GOOS=js and Stardust's glue
//	stardust.json     name, guest port, args, env (editable after the build)
//	rootfs.json/.bin  the files packed with -files, when there are any
package browser

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/stardust-go/stardust/image/rootfs"
	"github.com/stardust-go/stardust/wasm/gobuild"
)

//go:embed assets/index.html assets/sw.js assets/stardust-fs.js
var assets embed.FS

// Options describe one bundle.
type Options struct {
	Pkg    string   // main package (directory or import path)
	Output string   // bundle directory; created if missing
	Files  []string // HOSTDIR[:GUESTDIR] trees for the read-only root filesystem
	Port   int      // port the program listens on; 0 means 8080
	Args   []string // program arguments after argv[0]
	Env    []string // KEY=VALUE
	Dir    string   // working directory for the go command
}

// Config is stardust.json, read by sw.js at boot.
type Config struct {
	Name     string            `json:"name"`
	Port     int               `json:"port"`
	Args     []string          `json:"args"`
	Env      map[string]string `json:"env"`
	Wasm     string            `json:"wasm"`
	WasmSize int64             `json:"wasmSize"`
	RootFS   *RootFSConfig     `json:"rootfs,omitempty"`
}

// RootFSConfig names the packed filesystem's files.
type RootFSConfig struct {
	Index string `json:"index"`
	Data  string `json:"data"`
	Size  int64  `json:"size"`
}

// Build writes a bundle for o.Pkg into o.Output.
func Build(ctx context.Context, o Options) error {
	if o.Port == 0 {
		o.Port = 8080
	}
	if err := os.MkdirAll(o.Output, 0o755); err != nil {
		return err
	}
	// The packed tree is checked before the (slower) compile.
	var tree *rootfs.Builder
	if len(o.Files) > 0 {
		tree = &rootfs.Builder{}
		for _, spec := range o.Files {
			if err := tree.AddSpec(spec); err != nil {
				return fmt.Errorf("-files %s: %w", spec, err)
			}
		}
	}
	wasmPath := filepath.Join(o.Output, "app.wasm")
	if err := gobuild.Build(ctx, gobuild.Options{Pkg: o.Pkg, Target: gobuild.Browser, Output: wasmPath, Dir: o.Dir}); err != nil {
		return err
	}
	st, err := os.Stat(wasmPath)
	if err != nil {
		return err
	}
	cfg := Config{Name: programName(o.Pkg), Port: o.Port, Args: o.Args, Env: map[string]string{}, Wasm: "app.wasm", WasmSize: st.Size()}
	if cfg.Args == nil {
		cfg.Args = []string{}
	}
	for _, kv := range o.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("env %q: want KEY=VALUE", kv)
		}
		cfg.Env[k] = v
	}
	if tree != nil {
		if cfg.RootFS, err = writeRootFS(tree, o.Output); err != nil {
			return err
		}
	}
	if err := copyWasmExec(ctx, o.Dir, filepath.Join(o.Output, "wasm_exec.js")); err != nil {
		return err
	}
	for _, name := range []string{"index.html", "sw.js", "stardust-fs.js"} {
		data, _ := assets.ReadFile("assets/" + name)
		if err := os.WriteFile(filepath.Join(o.Output, name), data, 0o644); err != nil {
			return err
		}
	}
	js, _ := json.MarshalIndent(cfg, "", "  ")
	return os.WriteFile(filepath.Join(o.Output, "stardust.json"), append(js, '\n'), 0o644)
}

// programName is argv[0]: the last element of the package path.
func programName(pkg string) string {
	name := path.Base(filepath.ToSlash(filepath.Clean(pkg)))
	if name == "." || name == "/" {
		if wd, err := os.Getwd(); err == nil {
			name = filepath.Base(wd)
		}
	}
	return name
}

// copyWasmExec copies wasm_exec.js from the GOROOT of the go command that
// built app.wasm: the loader and the module must come from the same release.
func copyWasmExec(ctx context.Context, dir, dst string) error {
	cmd := exec.CommandContext(ctx, "go", "env", "GOROOT")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	goroot := strings.TrimSpace(string(out))
	var data []byte
	for _, rel := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} { // Go ≥ 1.24, older
		if data, err = os.ReadFile(filepath.Join(goroot, rel)); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("wasm_exec.js not found in GOROOT %s: %w", goroot, err)
	}
	return os.WriteFile(dst, data, 0o644)
}

// indexEntry is one line of rootfs.json, the shim's view of the tree.
type indexEntry struct {
	Path    string `json:"path"`
	Dir     bool   `json:"dir"`
	Mode    uint32 `json:"mode"` // Linux st_mode
	Size    int64  `json:"size"`
	MtimeMs int64  `json:"mtimeMs"`
	Off     int64  `json:"off"`
}

// writeRootFS packs the tree the same way the VM build does (image/rootfs),
// then flattens it into an index and one blob the JavaScript shim can
// serve. Symbolic links to files become copies; links to directories are
// left out (the shim has no links).
func writeRootFS(tree *rootfs.Builder, dir string) (*RootFSConfig, error) {
	var img bytes.Buffer
	if _, err := tree.WriteTo(&img); err != nil {
		return nil, err
	}
	im, err := rootfs.Parse(img.Bytes())
	if err != nil {
		return nil, err
	}
	var index []indexEntry
	var blob bytes.Buffer
	err = fs.WalkDir(im, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := im.Stat(p) // follows symlinks
		if err != nil {
			return nil // a dangling link: leave it out
		}
		e := indexEntry{Path: "/" + strings.TrimPrefix(p, "."), MtimeMs: info.ModTime().UnixMilli()}
		switch {
		case info.IsDir() && d.Type()&fs.ModeSymlink != 0:
			return nil
		case info.IsDir():
			e.Dir, e.Mode = true, 0o40000|uint32(info.Mode().Perm())
		case info.Mode().IsRegular():
			data, err := im.ReadFile(p)
			if err != nil {
				return err
			}
			e.Mode, e.Size, e.Off = 0o100000|uint32(info.Mode().Perm()), int64(len(data)), int64(blob.Len())
			blob.Write(data)
		default:
			return nil
		}
		index = append(index, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("packing the root filesystem: %w", err)
	}
	js, _ := json.Marshal(index)
	if err := os.WriteFile(filepath.Join(dir, "rootfs.json"), js, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs.bin"), blob.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return &RootFSConfig{Index: "rootfs.json", Data: "rootfs.bin", Size: int64(blob.Len())}, nil
}
