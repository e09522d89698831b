package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWithFlag(t *testing.T) {
	parse := func(args ...string) ([]string, error) {
		fs := flag.NewFlagSet("build", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		w := withFlag{}
		fs.Var(&w, "with", "")
		err := fs.Parse(args)
		return w, err
	}
	got, err := parse("-with", "shares", "-with", "net,disks", "-with", "shares")
	if want := []string{"disks", "net", "shares"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("-with shares -with net,disks -with shares = %q, %v; want %q", got, err, want)
	}
	if _, err := parse("-with", "disks,9p"); err == nil || !strings.Contains(err.Error(), `unknown part "9p": the parts are disks, entropy, net, shares`) {
		t.Errorf("-with disks,9p: %v", err)
	}
	// A bad -with is a usage error (status 2) before anything is built.
	if status := cmdBuild([]string{"-with", "9p", "./no/such/package"}); status != 2 {
		t.Errorf("stardust build -with 9p: status %d, want 2", status)
	}
	if err := build(buildOptions{Pkg: ".", Target: "wasi", With: []string{"disks"}}); err == nil || !strings.Contains(err.Error(), "-with") {
		t.Errorf("-with for a wasi build: %v", err)
	}
}

// TestRunChecksParts: `stardust run -disk` (or -v) with an image that
// lacks the part is refused before QEMU starts (the disk is not even
// created) with a message that says how to rebuild; an image built with
// the part passes the check.
func TestRunChecksParts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images")
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.img")
	withDisks := filepath.Join(dir, "disks.img")
	if err := build(buildOptions{Pkg: "../../examples/hello", Output: plain}); err != nil {
		t.Fatal(err)
	}
	if err := build(buildOptions{Pkg: "../../examples/hello", Output: withDisks, With: []string{"disks"}}); err != nil {
		t.Fatal(err)
	}

	disk := filepath.Join(dir, "vol.img")
	status, stderr := captureStderr(t, func() int { return cmdRun([]string{"-disk", disk, plain}) })
	if status != 1 || !strings.Contains(stderr, "was built without disks (needed by -disk)") || !strings.Contains(stderr, "stardust build -with disks") {
		t.Errorf("run -disk with an image without disks: status %d, stderr %q", status, stderr)
	}
	if _, err := os.Stat(disk); err == nil {
		t.Error("the disk was created although the run was refused")
	}

	if err := checkParts(withDisks, neededParts([]string{disk}, nil)); err != nil {
		t.Errorf("image built -with disks refused: %v", err)
	}
	err := checkParts(withDisks, neededParts([]string{disk}, []string{dir + ":/host"}))
	if err == nil || !strings.Contains(err.Error(), "without shares (needed by -v)") || !strings.Contains(err.Error(), "-with shares") {
		t.Errorf("-v with an image without shares: %v", err)
	}
	if err := checkParts(plain, nil); err != nil {
		t.Errorf("no -disk or -v: %v", err)
	}
}

// captureStderr runs f with os.Stderr sent to a file and returns f's
// result and what it wrote.
func captureStderr(t *testing.T, f func() int) (int, string) {
	t.Helper()
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	saved := os.Stderr
	os.Stderr = file
	status := f()
	os.Stderr = saved
	b, _ := os.ReadFile(file.Name())
	return status, string(b)
}
