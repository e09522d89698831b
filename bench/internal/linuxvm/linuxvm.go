// Package linuxvm builds and boots the minimal Linux VM that Stardust's
// benchmarks compare against: Debian's kernel (downloaded with apt-get
// from the configured Debian mirror, cached) and an initramfs holding
// only a small init (see init/), the kernel modules it needs, and the
// program under test built as an ordinary static linux/amd64 binary. It
// boots under the same QEMU, with the same devices and memory as the
// Stardust VM it is compared with.
//
// It needs network access to a Debian mirror the first time, and runs
// only from benchmarks (bench/net, bench/disk), never from tests.
package linuxvm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stardust-go/stardust/vmm"
)

// Modules for a virtio-net NIC and for an ext4 volume on virtio-blk, in
// load order (each after what it depends on).
var (
	NetModules = []string{
		"drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
		"drivers/virtio/virtio_pci_legacy_dev.ko", "drivers/virtio/virtio_pci_modern_dev.ko",
		"drivers/virtio/virtio_pci.ko", "net/core/failover.ko", "drivers/net/net_failover.ko",
		"drivers/net/virtio_net.ko",
	}
	DiskModules = []string{
		"drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
		"drivers/virtio/virtio_pci_legacy_dev.ko", "drivers/virtio/virtio_pci_modern_dev.ko",
		"drivers/virtio/virtio_pci.ko", "drivers/block/virtio_blk.ko",
		"lib/crc16.ko", "crypto/crc32c_generic.ko", "fs/mbcache.ko", "fs/jbd2/jbd2.ko", "fs/ext4/ext4.ko",
	}
)

// Kernel returns the Debian kernel (vmlinuz) and its modules directory,
// downloading linux-image-amd64's current kernel package into cache once.
func Kernel(cache string) (vmlinuz, modules string, err error) {
	dir := filepath.Join(cache, "debian-kernel")
	if m, _ := filepath.Glob(filepath.Join(dir, "x/boot/vmlinuz-*")); len(m) == 1 {
		mods, _ := filepath.Glob(filepath.Join(dir, "x/lib/modules/*/kernel"))
		if len(mods) == 1 {
			return m[0], mods[0], nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return "", "", fmt.Errorf("apt-cache depends linux-image-amd64 (a Debian host is needed): %v", err)
	}
	var pkg string
	for _, l := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "Depends: linux-image-"); ok && strings.HasSuffix(p, "-amd64") {
			pkg = "linux-image-" + p
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("no kernel package in %q", out)
	}
	dl := exec.Command("apt-get", "download", pkg)
	dl.Dir = dir
	if out, err := dl.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("apt-get download %s: %v\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", "", fmt.Errorf("downloaded %v", debs)
	}
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], filepath.Join(dir, "x")).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("dpkg-deb -x: %v\n%s", err, out)
	}
	os.Remove(debs[0])
	return Kernel(cache)
}

// Initramfs writes a newc cpio archive to path with /init (built from
// ./bench/internal/linuxvm/init), /prog (the main package prog, built for
// linux/amd64 without cgo) and the listed modules as /modules/NN-name.ko.
func Initramfs(path, prog, modulesDir string, modules []string) error {
	tmp, err := os.MkdirTemp("", "linuxvm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	build := func(pkg, out string) error {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
		return nil
	}
	if err := build("./bench/internal/linuxvm/init", filepath.Join(tmp, "init")); err != nil {
		return err
	}
	if err := build(prog, filepath.Join(tmp, "prog")); err != nil {
		return err
	}
	var w cpioWriter
	for _, d := range []string{"proc", "dev", "modules", "data"} {
		w.dir(d)
	}
	for _, f := range []string{"init", "prog"} {
		b, err := os.ReadFile(filepath.Join(tmp, f))
		if err != nil {
			return err
		}
		w.file(f, 0o755, b)
	}
	for i, m := range modules {
		b, err := os.ReadFile(filepath.Join(modulesDir, m))
		if err != nil {
			return err
		}
		w.file(fmt.Sprintf("modules/%02d-%s", i, filepath.Base(m)), 0o644, b)
	}
	return os.WriteFile(path, w.finish(), 0o644)
}

// cpioWriter writes the "newc" format (cpio(5), what the kernel's
// initramfs unpacker reads): a 110-byte ASCII header, the name, the data,
// each padded to 4 bytes, and a TRAILER!!! entry.
type cpioWriter struct {
	buf bytes.Buffer
	ino int
}

func (w *cpioWriter) entry(name string, mode uint32, data []byte) {
	w.ino++
	fmt.Fprintf(&w.buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		w.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	w.buf.WriteString(name)
	w.buf.WriteByte(0)
	w.pad()
	w.buf.Write(data)
	w.pad()
}

func (w *cpioWriter) pad() {
	for w.buf.Len()%4 != 0 {
		w.buf.WriteByte(0)
	}
}

func (w *cpioWriter) dir(name string)                         { w.entry(name, 0o040755, nil) }
func (w *cpioWriter) file(name string, perm uint32, b []byte) { w.entry(name, 0o100000|perm, b) }

func (w *cpioWriter) finish() []byte {
	w.entry("TRAILER!!!", 0, nil)
	return w.buf.Bytes()
}

// Config is one boot of the Linux VM.
type Config struct {
	Kernel, Initrd string
	Memory         string   // e.g. 128M
	Ports          []string // HOSTPORT:GUESTPORT forwarded over QEMU's user network ("" = no NIC)
	Disk           string   // a raw image attached as virtio-blk-pci (/dev/vda), or ""
	Args           []string // the program's arguments
	Stdout         io.Writer
}

// Command returns the QEMU command for c: the pc machine (the kernel is
// booted with the Linux boot protocol by SeaBIOS' linuxboot ROM), TCG,
// one vCPU, virtio-pci devices, the serial console on Stdout.
func (c Config) Command(ctx context.Context) (*exec.Cmd, error) {
	qemu, err := vmm.QEMUPath()
	if err != nil {
		return nil, err
	}
	cmdline := "console=ttyS0 quiet panic=-1"
	args := []string{"-machine", "pc", "-accel", "tcg", "-cpu", "max", "-m", c.Memory, "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio",
		"-kernel", c.Kernel, "-initrd", c.Initrd}
	if len(c.Ports) > 0 {
		netdev := "user,id=net0"
		for _, p := range c.Ports {
			h, g, _ := strings.Cut(p, ":")
			netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%s-:%s", h, g)
		}
		args = append(args, "-netdev", netdev, "-device", "virtio-net-pci,disable-legacy=on,netdev=net0")
		cmdline += " sdip=10.0.2.15/24 sdgw=10.0.2.2"
	}
	if c.Disk != "" {
		args = append(args, "-drive", "file="+c.Disk+",format=raw,if=none,id=disk0,cache=writeback",
			"-device", "virtio-blk-pci,disable-legacy=on,drive=disk0")
		cmdline += " sddisk=/dev/vda"
	}
	if len(c.Args) > 0 {
		cmdline += " -- " + strings.Join(c.Args, " ")
	}
	args = append(args, "-append", cmdline)
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stdout
	return cmd, nil
}
