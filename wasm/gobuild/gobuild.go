// Package gobuild compiles an unmodified Go main package for one of
// Stardust's WebAssembly targets: "browser" (GOOS=js) and "wasi"
// (GOOS=wasip1). The program is not edited: a small glue file (see the glue
// directory) is added to its main package at build time through
// `go build -overlay`, so the same source also boots as a VM image.
//
// Before compiling, the package's dependencies are listed for the target so
// that a package that needs cgo, or that has no files for the target, is
// reported by name instead of as a wall of compiler output.
package gobuild

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The glue files are ordinary Go files (package main, tagged for their GOOS)
// so that gofmt and vet see them; they are embedded here and added to the
// user's main package by overlay.
//
//go:embed glue/glue_js.go glue/glue_wasip1.go
var glueFS embed.FS

// Target names a WebAssembly target.
type Target string

const (
	Browser Target = "browser" // GOOS=js GOARCH=wasm, run by a Service Worker
	WASI    Target = "wasi"    // GOOS=wasip1 GOARCH=wasm, run by wasihost
)

// GOOS returns the Go operating system the target compiles for.
func (t Target) GOOS() (string, error) {
	switch t {
	case Browser:
		return "js", nil
	case WASI:
		return "wasip1", nil
	}
	return "", fmt.Errorf("unknown wasm target %q (want browser or wasi)", string(t))
}

// Options control one build.
type Options struct {
	Pkg    string // main package: a directory or an import path
	Target Target
	Output string // the .wasm file to write
	Dir    string // working directory for the go command ("" = current)
	// Extra environment for the go command (e.g. GOFLAGS); the target's
	// GOOS/GOARCH/CGO_ENABLED always win.
	Env []string
}

// Build compiles o.Pkg with the target's glue into o.Output.
func Build(ctx context.Context, o Options) error {
	goos, err := o.Target.GOOS()
	if err != nil {
		return err
	}
	env := append(append(os.Environ(), o.Env...), "GOOS="+goos, "GOARCH=wasm", "CGO_ENABLED=0")
	// A package given as a directory is built from inside it, so that its
	// own module applies wherever stardust is run from.
	if fi, err := os.Stat(o.Pkg); err == nil && fi.IsDir() && o.Dir == "" {
		o.Dir, o.Pkg = o.Pkg, "."
	}
	pkgDir, err := checkPackage(ctx, o, env, goos)
	if err != nil {
		return err
	}

	// The overlay adds the glue file to the main package's directory; the
	// file does not exist on disk.
	tmp, err := os.MkdirTemp("", "stardust-wasm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	glueName := "glue_" + goos + ".go"
	glue, err := glueFS.ReadFile("glue/" + glueName)
	if err != nil {
		return err
	}
	gluePath := filepath.Join(tmp, glueName)
	if err := os.WriteFile(gluePath, glue, 0o644); err != nil {
		return err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(pkgDir, "zz_stardust_"+glueName): gluePath},
	})
	overlayPath := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayPath, overlay, 0o644); err != nil {
		return err
	}

	out, err := filepath.Abs(o.Output)
	if err != nil {
		return err
	}
	// -s -w drop symbol and DWARF tables: they are a third of the module and
	// a browser downloads every byte.
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay="+overlayPath, "-trimpath",
		"-ldflags=-s -w", "-o", out, o.Pkg)
	cmd.Dir = o.Dir
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return compileError(o.Pkg, goos, stderr.String(), err)
	}
	return nil
}

// listedPackage is the part of `go list -json` output checkPackage reads.
type listedPackage struct {
	ImportPath     string
	Dir            string
	Name           string
	IgnoredGoFiles []string
	Error          *struct{ Err string }
}

// checkPackage lists o.Pkg and its dependencies for the target and returns
// the main package's directory, or an error naming the first package that
// cannot be built for the target.
func checkPackage(ctx context.Context, o Options, env []string, goos string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-e", "-deps", "-json=ImportPath,Dir,Name,IgnoredGoFiles,Error", o.Pkg)
	cmd.Dir = o.Dir
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("listing %s: %v\n%s", o.Pkg, err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("listing %s: %v", o.Pkg, err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return "", fmt.Errorf("listing %s: no packages", o.Pkg)
	}
	var errs []error
	for _, p := range pkgs {
		if p.Error == nil {
			continue
		}
		if f := cgoFile(p); f != "" {
			errs = append(errs, fmt.Errorf("package %s needs cgo (%s imports \"C\"), which the %s target (GOOS=%s) cannot use",
				p.ImportPath, f, o.Target, goos))
			continue
		}
		errs = append(errs, fmt.Errorf("package %s is not supported by the %s target (GOOS=%s GOARCH=wasm): %s",
			p.ImportPath, o.Target, goos, strings.TrimSpace(p.Error.Err)))
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	main := pkgs[len(pkgs)-1] // -deps lists the named package last
	if main.Name != "main" {
		return "", fmt.Errorf("package %s is not a main package (it is package %s)", main.ImportPath, main.Name)
	}
	return main.Dir, nil
}

// cgoFile returns the first of p's excluded files that imports "C", if any:
// with CGO_ENABLED=0 such files are silently excluded, which is why a cgo
// package shows up as "build constraints exclude all Go files".
func cgoFile(p listedPackage) string {
	for _, name := range p.IgnoredGoFiles {
		path := filepath.Join(p.Dir, name)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			continue
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"C"` {
				return name
			}
		}
	}
	return ""
}

// compileError turns `go build` output into an error that names the
// packages that failed (the "# import/path" headers the go command prints).
func compileError(pkg, goos, output string, err error) error {
	var failed []string
	for _, line := range strings.Split(output, "\n") {
		if strings.HasPrefix(line, "# ") {
			failed = append(failed, strings.TrimPrefix(line, "# "))
		}
	}
	if len(failed) == 0 {
		return fmt.Errorf("building %s for GOOS=%s GOARCH=wasm: %v\n%s", pkg, goos, err, strings.TrimSpace(output))
	}
	return fmt.Errorf("package %s does not compile for GOOS=%s GOARCH=wasm (it probably uses an API that target lacks):\n%s",
		strings.Join(failed, ", "), goos, strings.TrimSpace(output))
}
