package main

import (
	"strings"
	"time"

	"github.com/stardust-go/stardust/toolchain"
)

// buildOptions are the flags of `stardust build` shared by every target.
type buildOptions struct {
	Pkg    string   // the main package to build (a path or import path)
	Output string   // -o
	Target string   // -target: vm (default), browser, wasi
	Files  []string // -files HOSTDIR[:GUESTDIR], repeatable
	With   []string // -with PART[,PART...], repeatable: optional parts (vm target)
}

// runOptions are the flags of `stardust run` shared by every target.
type runOptions struct {
	Args    []string      // the program's arguments (after --)
	Env     []string      // -env KEY=VALUE, repeatable
	Ports   []string      // -p HOSTPORT:GUESTPORT[/udp], repeatable
	Volumes []string      // -v HOSTDIR:GUESTDIR[:ro], repeatable
	Timeout time.Duration // -timeout; 0 means none
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// withFlag is -with: optional parts of an image, a comma-separated list,
// repeatable. Names are checked as they are parsed, so a misspelt one is
// a usage error that lists the valid ones.
type withFlag []string

func (w *withFlag) String() string { return strings.Join(*w, ",") }

func (w *withFlag) Set(v string) error {
	parts, err := toolchain.ParseParts(append(*w, v))
	if err != nil {
		return err
	}
	*w = parts
	return nil
}
