package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stardust-go/stardust/toolchain"
)

func cmdBuild(args []string) int {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	var o buildOptions
	fs.StringVar(&o.Output, "o", "", "output `file` (default: the package's name + .img; a directory for -target browser)")
	fs.StringVar(&o.Target, "target", "vm", "what to build: vm (a bootable image), wasi (a .wasm module) or browser (a static web bundle)")
	files := listFlag{}
	fs.Var(&files, "files", "pack HOSTDIR[:GUESTDIR] into the image's root filesystem (repeatable)")
	with := withFlag{}
	fs.Var(&with, "with", "link optional `parts` into the image: a comma-separated list of "+toolchain.PartNames()+" (repeatable)")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: stardust build [-o IMAGE] [-target vm|wasi|browser] [-files HOSTDIR[:GUESTDIR]] [-with PARTS] PKG\n\n"+
			"Builds the Go main package PKG (a directory or import path) into a Stardust image\n"+
			"with the kernel linked in. The package's files and go.mod are not modified.\n\n"+
			"Optional parts (-with), linked only when asked for:\n")
		for _, p := range toolchain.Parts {
			fmt.Fprintf(os.Stderr, "  %-7s %s\n", p.Name, p.Summary)
		}
		fmt.Fprintf(os.Stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	o.Pkg = fs.Arg(0)
	o.Files, o.With = files, with
	if err := build(o); err != nil {
		return fail("%v", err)
	}
	return 0
}

// build builds o for its target.
func build(o buildOptions) error {
	switch o.Target {
	case "", "vm":
	case "wasi", "browser":
		if len(o.With) > 0 {
			return fmt.Errorf("-with is for -target vm: a %s build has no kernel", o.Target)
		}
		if o.Output == "" {
			o.Output = defaultName(o.Pkg)
			if o.Target == "wasi" {
				o.Output += ".wasm"
			}
		}
		return buildWASM(o)
	default:
		return fmt.Errorf("unknown -target %q (want vm, wasi or browser)", o.Target)
	}
	if o.Output == "" {
		o.Output = defaultName(o.Pkg) + ".img"
	}
	return toolchain.Build(toolchain.Options{Pkg: o.Pkg, Output: o.Output, Files: o.Files, With: o.With})
}

// defaultName is the output name `go build` would pick for pkg.
func defaultName(pkg string) string {
	p := strings.TrimRight(pkg, "/")
	if p == "." || p == "" {
		if wd, err := os.Getwd(); err == nil {
			p = wd
		}
	}
	return filepath.Base(p)
}
