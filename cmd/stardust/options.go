package main

import (
	"strings"
	"time"
)

// buildOptions are the flags of `stardust build` shared by every target.
type buildOptions struct {
	Pkg    string   // the main package to build (a path or import path)
	Output string   // -o
	Target string   // -target: vm (default), browser, wasi
	Files  []string // -files HOSTDIR[:GUESTDIR], repeatable
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
