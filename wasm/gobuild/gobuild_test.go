package gobuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeModule lays out a throwaway module with one package per entry.
func writeModule(t *testing.T, pkgs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"go.mod": "module example.com/bad\n\ngo 1.26\n"}
	for name, src := range pkgs {
		files[filepath.Join(name, "main.go")] = src
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBadInputNamesThePackage(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"needscgo":     "package main\n\n// int two(void) { return 2; }\nimport \"C\"\n\nfunc main() { println(C.two()) }\n",
		"usescgo":      "package main\n\nimport _ \"example.com/bad/needscgo/lib\"\n\nfunc main() {}\n",
		"needscgo/lib": "package lib\n\n// int one(void) { return 1; }\nimport \"C\"\n\nvar One = C.one()\n",
		"mmap":         "package main\n\nimport \"syscall\"\n\nfunc main() { syscall.Mmap(0, 0, 0, 0, 0) }\n",
		"notmain":      "package notmain\n",
	})
	for _, c := range []struct {
		pkg    string
		target Target
		want   []string
	}{
		{"./needscgo", WASI, []string{"package example.com/bad/needscgo needs cgo", `main.go imports "C"`}},
		{"./usescgo", Browser, []string{"package example.com/bad/needscgo/lib needs cgo", "browser target"}},
		{"./mmap", WASI, []string{"package example.com/bad/mmap does not compile for GOOS=wasip1", "syscall.Mmap"}},
		{"./mmap", Browser, []string{"GOOS=js"}},
		{"./notmain", WASI, []string{"is not a main package"}},
		{"./missing", WASI, []string{"missing"}},
	} {
		err := Build(context.Background(), Options{Pkg: c.pkg, Target: c.target, Dir: dir, Output: filepath.Join(t.TempDir(), "out.wasm")})
		if err == nil {
			t.Errorf("%s (%s): built; want an error", c.pkg, c.target)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s (%s): error %q does not mention %q", c.pkg, c.target, err, w)
			}
		}
	}
	if _, err := Target("wasm64").GOOS(); err == nil {
		t.Error("unknown target accepted")
	}
}
