// Package toolchain builds a Go main package into a Stardust image with the
// stock Go toolchain: it adds the kernel import to the package without
// touching the user's files (go build -overlay), makes the kernel's module
// visible to a package from another module (a temporary go.work), and
// turns the linked ELF into a bootable image (package image).
//
// It runs on the host, in `stardust build`.
package toolchain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	stardust "github.com/stardust-go/stardust"
	"github.com/stardust-go/stardust/image"
	"github.com/stardust-go/stardust/image/rootfs"
)

// Options say what to build.
type Options struct {
	Pkg    string // package path or directory, as `go build` takes it
	Dir    string // directory to run the go command in ("" = current)
	Output string // the image file to write
	// Files are HOSTDIR[:GUESTDIR] trees to pack into the image's root
	// filesystem, after the defaults (/etc/hosts, /etc/nsswitch.conf, the
	// host's CA bundle as /etc/ssl/certs/ca-certificates.crt).
	Files []string
	// With names optional parts to link (see Parts): "disks", "shares",
	// "net", each a name or a comma-separated list. The network stack is
	// linked without asking into programs that use package net, and a part
	// the program imports itself is linked anyway.
	With []string
}

// BuildError is a failed compilation; Output is the go command's output.
type BuildError struct {
	Pkg    string
	Output string
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("building %s failed:\n%s", e.Pkg, strings.TrimRight(e.Output, "\n"))
}

// pkgInfo is what `go list -json` tells about the package.
type pkgInfo struct {
	Dir        string
	ImportPath string
	Name       string
	CgoFiles   []string
	Imports    []string
	Module     *struct {
		Path  string
		Dir   string
		GoMod string
	}
	Error *struct{ Err string }
}

// goEnv is the environment every go command here runs with: the program
// is built for the Linux ABI the kernel provides, statically, without cgo.
func goEnv(extra ...string) []string {
	env := append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	return append(env, extra...)
}

// Build builds o.Pkg into the image o.Output.
func Build(o Options) error {
	// A directory is built from inside it, so it need not be in the
	// current directory's module.
	if st, err := os.Stat(filepath.Join(o.Dir, o.Pkg)); err == nil && st.IsDir() {
		abs, err := filepath.Abs(filepath.Join(o.Dir, o.Pkg))
		if err != nil {
			return err
		}
		o.Dir, o.Pkg = abs, "."
	}
	if out, err := filepath.Abs(o.Output); err == nil {
		o.Output = out
	}
	with, err := ParseParts(o.With)
	if err != nil {
		return err
	}
	info, err := list(o.Dir, o.Pkg)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "stardust-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var extraEnv []string
	kernelDir := info.Module.Dir // the kernel's module: the program's own, or the extracted copy
	if info.Module.Path != stardust.ModulePath {
		src, err := kernelSource()
		if err != nil {
			return err
		}
		kernelDir = src
		work, err := workspace(tmp, info.Module.Dir, src)
		if err != nil {
			return err
		}
		extraEnv = append(extraEnv, "GOWORK="+work)
	}

	// The root filesystem: packed here, embedded into package
	// kernel/files by two overlay files (see rootFSOverlay).
	rootImg := filepath.Join(tmp, "rootfs.img")
	deps, err := dependencies(o.Dir, o.Pkg)
	if err != nil {
		return err
	}
	if err := packRoot(rootImg, o.Files, deps["crypto/x509"]); err != nil {
		return err
	}

	// The optional parts: those asked for, the network stack if the
	// program uses package net, and any the program imports itself (which
	// package files must know of: it mounts the parts in order).
	if deps["net"] {
		with = append(with, "net")
	}
	for _, p := range Parts {
		if deps[p.Package] {
			with = append(with, p.Name)
		}
	}
	with, _ = ParseParts(with) // sorted, each once

	// The overlay adds one file to the main package: the kernel import and
	// the parts'.
	kfile := filepath.Join(tmp, "stardust_kernel.go")
	src := "// Added by stardust build: links the Stardust kernel into this program.\n\npackage main\n\nimport _ \"" + stardust.KernelPackage + "\"\n"
	for _, name := range with {
		src += "import _ \"" + part(name).Package + "\"\n"
	}
	if err := os.WriteFile(kfile, []byte(src), 0o644); err != nil {
		return err
	}
	replace := map[string]string{filepath.Join(info.Dir, "zz_stardust_kernel.go"): kfile}
	if err := rootFSOverlay(tmp, filepath.Join(kernelDir, "kernel", "files"), rootImg, with, replace); err != nil {
		return err
	}
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": replace})
	ovfile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovfile, overlay, 0o644); err != nil {
		return err
	}
	elfFile := filepath.Join(tmp, "program.elf")
	cmd := exec.Command("go", "build", "-overlay", ovfile, "-o", elfFile, info.Dir)
	cmd.Dir = o.Dir
	cmd.Env = goEnv(extraEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return &BuildError{Pkg: o.Pkg, Output: string(out)}
	}
	elfBytes, err := os.ReadFile(elfFile)
	if err != nil {
		return err
	}
	img, err := image.MakeBootable(elfBytes)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Pkg, err)
	}
	return os.WriteFile(o.Output, img, 0o755)
}

// packRoot writes the image's root filesystem: the defaults Go programs
// look for (the host's CA bundle only for programs that verify
// certificates: it is a quarter of a megabyte), then each
// HOSTDIR[:GUESTDIR] tree. QEMU's user network has its DNS server at
// 10.0.2.3, so that is the default /etc/resolv.conf.
func packRoot(path string, specs []string, caBundle bool) error {
	var b rootfs.Builder
	if err := b.AddDefaults(rootfs.Defaults{NoCABundle: !caBundle, Nameservers: []string{"10.0.2.3"}}); err != nil {
		return fmt.Errorf("root filesystem defaults: %v", err)
	}
	for _, spec := range specs {
		if err := b.AddSpec(spec); err != nil {
			return fmt.Errorf("-files %s: %v", spec, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := b.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("packing the root filesystem: %v", err)
	}
	return f.Close()
}

// rootFSOverlay adds to package kernel/files (in dir) the packed image and
// a file that embeds it and mounts it at start-up, before main's init,
// telling it which optional parts the image links.
func rootFSOverlay(tmp, dir, img string, parts []string, replace map[string]string) error {
	args := "packedRoot"
	for _, p := range parts {
		args += fmt.Sprintf(", %q", p)
	}
	src := "// Added by stardust build: the image's root filesystem.\n\npackage files\n\n" +
		"import _ \"embed\"\n\n//go:embed zz_stardust_rootfs.img\nvar packedRoot string\n\n" +
		"func init() { SetRootImage(" + args + ") }\n"
	goFile := filepath.Join(tmp, "rootfs.go")
	if err := os.WriteFile(goFile, []byte(src), 0o644); err != nil {
		return err
	}
	replace[filepath.Join(dir, "zz_stardust_rootfs.go")] = goFile
	replace[filepath.Join(dir, "zz_stardust_rootfs.img")] = img
	return nil
}

// list runs `go list` and checks that pkg is something we can build.
func list(dir, pkg string) (*pkgInfo, error) {
	info, err := goList(dir, pkg, "CGO_ENABLED=0")
	if err != nil {
		return nil, err
	}
	// Files that import "C" are invisible with cgo off; ask again with
	// it on to say why such a package cannot be built.
	if withCgo, err := goList(dir, pkg, "CGO_ENABLED=1"); err == nil && len(withCgo.CgoFiles) > 0 {
		return nil, fmt.Errorf("%s needs cgo (%s), which Stardust images cannot contain: a unikernel has no C library", pkg, strings.Join(withCgo.CgoFiles, ", "))
	}
	if info.Error != nil {
		return nil, fmt.Errorf("cannot load package %s: %s", pkg, info.Error.Err)
	}
	if info.Name != "main" {
		return nil, fmt.Errorf("%s is package %s, not a main package: only commands can become images", pkg, info.Name)
	}
	if info.Module == nil {
		return nil, fmt.Errorf("%s is not in a Go module; run `go mod init` first", pkg)
	}
	return info, nil
}

// dependencies returns the packages pkg imports, directly or not.
func dependencies(dir, pkg string) (map[string]bool, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg)
	cmd.Dir = dir
	cmd.Env = goEnv()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the dependencies of %s: %v", pkg, err)
	}
	deps := map[string]bool{}
	for _, p := range strings.Split(string(out), "\n") {
		deps[p] = true
	}
	return deps, nil
}

func goList(dir, pkg, cgo string) (*pkgInfo, error) {
	cmd := exec.Command("go", "list", "-e", "-json", pkg)
	cmd.Dir = dir
	cmd.Env = append(goEnv(), cgo)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("cannot find package %s: %s", pkg, strings.TrimSpace(stderr.String()))
	}
	var info pkgInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, fmt.Errorf("go list %s: %v", pkg, err)
	}
	return &info, nil
}

// workspace writes a go.work that puts the user's module and the kernel's
// source side by side, so the overlay's import resolves without any change
// to the user's go.mod.
func workspace(tmp, userModDir, src string) (string, error) {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %v", err)
	}
	goVersion := strings.TrimPrefix(strings.TrimSpace(string(out)), "go")
	work := filepath.Join(tmp, "go.work")
	text := fmt.Sprintf("go %s\n\nuse (\n\t%q\n\t%q\n)\n", goVersion, userModDir, src)
	return work, os.WriteFile(work, []byte(text), 0o644)
}

// kernelSource extracts the embedded kernel source once into the user's
// cache directory and returns its path.
func kernelSource() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(stardust.Source, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := stardust.Source.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "stardust", "src-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "extract-")
	if err != nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return "", err
		}
		if tmp, err = os.MkdirTemp(filepath.Dir(dir), "extract-"); err != nil {
			return "", err
		}
	}
	err = fs.WalkDir(stardust.Source, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(tmp, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := stardust.Source.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
			return dir, nil // another build extracted it first
		}
		return "", err
	}
	return dir, nil
}
