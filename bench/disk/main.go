// Command disk measures file I/O and prints a table: sequential and random
// 4 KiB throughput and fsync latency on an ext4 volume (-disk, a raw image
// on the host's file system), and what the packed root filesystem costs
// (image size, time to read every file). The same workload runs in a
// minimal Linux VM with the same disk options (bench/internal/linuxvm) and
// natively on the host for reference. Run from the repository root:
//
//	go run ./bench/disk
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/stardust-go/stardust/bench/internal/linuxvm"
	"github.com/stardust-go/stardust/kernel/fs/ext4"
	"github.com/stardust-go/stardust/toolchain"
	"github.com/stardust-go/stardust/vmm"
)

var withLinux = flag.Bool("linux", true, "also run the workload in a minimal Linux VM (downloads Debian's kernel once)")

func main() {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "stardust-bench-disk-")
	check(err)
	defer os.RemoveAll(tmp)

	// The volume workload, in the VM and on the host.
	img := filepath.Join(tmp, "guest.img")
	check(toolchain.Build(toolchain.Options{Pkg: "./bench/disk/guest", Output: img, With: []string{"disks"}}))
	vol := filepath.Join(tmp, "vol.img")
	check(ext4.CreateImage(vol, 128<<20, ""))
	vm := runVM(vmm.Config{Image: img, Disks: []string{vol}, Args: []string{"volume", "/data"}})
	vmPC := runVM(vmm.Config{Image: img, Machine: "pc", Disks: []string{vol}, Args: []string{"volume", "/data"}})
	host := runHost(tmp, "volume", tmp)
	linux := map[string]string{}
	if *withLinux {
		linux = runLinux(tmp, vol)
	}

	// The packed root filesystem: the Go tree's testdata-free sources of
	// a few packages as content.
	files := filepath.Join(tmp, "files")
	check(os.MkdirAll(files, 0o755))
	goroot := strings.TrimSpace(string(must(exec.Command("go", "env", "GOROOT").Output())))
	check(exec.Command("cp", "-r", filepath.Join(goroot, "src/net"), filepath.Join(goroot, "src/crypto"), files).Run())
	plain := filepath.Join(tmp, "plain.img")
	packed := filepath.Join(tmp, "packed.img")
	check(toolchain.Build(toolchain.Options{Pkg: "./bench/disk/guest", Output: plain}))
	check(toolchain.Build(toolchain.Options{Pkg: "./bench/disk/guest", Output: packed, Files: []string{files + ":/files"}}))
	ra := runVM(vmm.Config{Image: packed, Args: []string{"readall", "/files"}})
	hostRA := runHost(tmp, "readall", files)

	fmt.Printf("| measure | Stardust, microvm | Stardust, pc | Linux VM, pc | host (native, %s) |\n|---|---|---|---|---|\n", fsType(tmp))
	for _, k := range []string{"seq-write", "seq-read", "rand-4k-write", "rand-4k-read", "fsync-p50", "fsync-p99"} {
		fmt.Printf("| %s | %s | %s | %s | %s |\n", k, vm[k], vmPC[k], linux[k], host[k])
	}
	fmt.Printf("\n| packed root filesystem | value |\n|---|---|\n")
	fmt.Printf("| content | %s in %s |\n", ra["readall-bytes"], ra["readall-files"])
	fmt.Printf("| image size without / with it | %.1f MiB / %.1f MiB |\n", size(plain), size(packed))
	fmt.Printf("| read every file in the VM | %s (host: %s) |\n", ra["readall-time"], hostRA["readall-time"])
}

func runVM(c vmm.Config) map[string]string {
	var out bytes.Buffer
	c.Stdout, c.Timeout = &out, 10*time.Minute
	res, err := vmm.Run(context.Background(), c)
	check(err)
	if res.Outcome != vmm.Exited || res.Status != 0 {
		check(fmt.Errorf("VM: %v %d\n%s", res.Outcome, res.Status, out.String()))
	}
	return parse(out.String())
}

// runLinux runs the workload in the minimal Linux VM (bench/internal/linuxvm)
// with the same disk attached as virtio-blk-pci and mounted at /data.
func runLinux(tmp, vol string) map[string]string {
	cache, err := os.UserCacheDir()
	check(err)
	kernel, mods, err := linuxvm.Kernel(filepath.Join(cache, "stardust"))
	check(err)
	initrd := filepath.Join(tmp, "guest.cpio")
	check(linuxvm.Initramfs(initrd, "./bench/disk/guest", mods, linuxvm.DiskModules))
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd, err := linuxvm.Config{Kernel: kernel, Initrd: initrd, Memory: "128M", Disk: vol,
		Args: []string{"volume", "/data"}, Stdout: &out}.Command(ctx)
	check(err)
	cmd.Run()
	m := parse(out.String())
	if len(m) == 0 {
		check(fmt.Errorf("Linux VM: no results:\n%s", out.String()))
	}
	return m
}

func runHost(tmp, mode, dir string) map[string]string {
	bin := filepath.Join(tmp, "guest-host")
	check(exec.Command("go", "build", "-o", bin, "./bench/disk/guest").Run())
	return parse(string(must(exec.Command(bin, mode, dir).Output())))
}

// parse reads "name value unit" lines.
func parse(s string) map[string]string {
	m := map[string]string{}
	for sc := bufio.NewScanner(strings.NewReader(s)); sc.Scan(); {
		if f := strings.Fields(sc.Text()); len(f) == 3 {
			m[f[0]] = f[1] + " " + f[2]
		}
	}
	return m
}

func fsType(dir string) string {
	out, err := exec.Command("stat", "-f", "-c", "%T", dir).Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func size(p string) float64 {
	fi, err := os.Stat(p)
	check(err)
	return float64(fi.Size()) / (1 << 20)
}

func must(b []byte, err error) []byte {
	check(err)
	return b
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/disk:", err)
		os.Exit(1)
	}
}
