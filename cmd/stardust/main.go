// Command stardust builds Go programs into bootable unikernel images and runs
// them: `stardust build`, `stardust run`, `stardust test`, `stardust serve`.
package main

import (
	"fmt"
	"os"
)

type command struct {
	name    string
	summary string
	run     func(args []string) int // returns the process exit status
}

var commands []command

func init() {
	commands = []command{
		{"build", "build a Go main package into a bootable image (or a wasm target)", cmdBuild},
		{"run", "boot an image (or build and boot a package) under a hypervisor", cmdRun},
		{"serve", "serve a browser bundle on localhost", cmdServe},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "Stardust turns a Go program into a single-purpose VM image.\n\nUsage:\n  stardust <command> [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'stardust <command> -help' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "-help" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			os.Exit(c.run(os.Args[2:]))
		}
	}
	fmt.Fprintf(os.Stderr, "stardust: unknown command %q\n", os.Args[1])
	usage()
	os.Exit(2)
}

// fail prints an error in the CLI's one format and returns exit status 1.
func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "stardust: "+format+"\n", args...)
	return 1
}
