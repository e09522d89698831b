// Package vmm starts Stardust images under a hypervisor and reports how
// they ended. Today that is QEMU (microvm, q35 and pc machines, with KVM
// where it really works and TCG otherwise).
//
// It runs on the host, in `stardust run` and the boot tests.
package vmm

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config describes one VM.
type Config struct {
	Image    string        // the image file
	Memory   string        // -m, e.g. "128M"
	Machine  string        // microvm (default), q35 or pc
	Accel    string        // auto (default), kvm or tcg
	SMP      int           // number of vCPUs (default 1)
	Args     []string      // the program's arguments (argv[1:])
	Env      []string      // KEY=VALUE
	Name     string        // argv[0] (default: the image's base name)
	Timeout  time.Duration // 0 = none
	Stdout   io.Writer     // the serial console (default os.Stdout)
	Stderr   io.Writer     // QEMU's own messages (default os.Stderr)
	Extra    []string      // more QEMU arguments (devices)
	Options  []string      // kernel options (words before "--" on the command line)
	Net      string        // "" (user networking if the image has a network stack), "user", "none" or "tap:IFNAME"
	Ports    []string      // with user networking: HOSTPORT:GUESTPORT[/udp], forwarded from 127.0.0.1
	NetIP    string        // static address ADDR/PREFIX (default: 10.0.2.15/24 on the user network, DHCP on a tap)
	NetGW    string        // static default gateway
	NetDNS   []string      // name servers, written to the guest's /etc/resolv.conf
	Hostname string        // the guest's host name
	Shares   []string      // HOSTDIR:GUESTDIR[:ro], shared over virtio-9p
	Disks    []string      // FILE[:GUESTPATH], raw ext4 images attached over virtio-blk (see DiskSpec)
}

// How a VM ended.
type Outcome int

const (
	Exited      Outcome = iota // the program exited; Result.Status is its status
	KernelPanic                // the kernel reported a panic
	TimedOut                   // Config.Timeout passed; the VM was killed
	Vanished                   // QEMU stopped without an exit record (triple fault, QEMU error)
)

// Result is how a VM ended.
type Result struct {
	Outcome Outcome
	Status  int    // the program's exit status (0-255) when Outcome == Exited
	Detail  string // QEMU's exit status and anything else worth saying
}

// ErrNoQEMU is returned when qemu-system-x86_64 is not installed.
var ErrNoQEMU = errors.New("qemu-system-x86_64 not found: install it with `sudo apt-get install qemu-system-x86` (Debian/Ubuntu)")

// QEMUPath returns the QEMU binary to use.
func QEMUPath() (string, error) {
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", ErrNoQEMU
	}
	return p, nil
}

// KVMUsable reports whether /dev/kvm can run ordinary guests. A nested,
// paravirtual KVM (the kvm_pvm module, CPUs without vmx/svm) opens fine but
// cannot run them, so the CPU flags and modules are checked too.
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return false
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(cpuinfo), "\n") {
		if strings.HasPrefix(line, "flags") {
			for _, fl := range strings.Fields(line) {
				if fl == "vmx" || fl == "svm" {
					return true
				}
			}
			return false
		}
	}
	return false
}

// Cmdline encodes the program's name, arguments and environment as the
// kernel command line (see kernel/linux/stack.go for the format).
func Cmdline(name string, args, env, options []string) string {
	var b strings.Builder
	for _, o := range options {
		b.WriteString(escape(o))
		b.WriteByte(' ')
	}
	for _, e := range env {
		b.WriteString("env=")
		b.WriteString(escape(e))
		b.WriteByte(' ')
	}
	b.WriteString("--")
	for _, a := range append([]string{name}, args...) {
		b.WriteByte(' ')
		b.WriteString(escape(a))
	}
	return b.String()
}

// escape percent-encodes everything but a conservative set of characters,
// so tokens never contain spaces or anything QEMU's option parser treats
// specially (it doubles commas, for example).
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '/', c == '=', c == ':', c == '@', c == '+':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	if s == "" {
		// An empty argument still needs a token; NUL ends the C string at once.
		return "%00"
	}
	return b.String()
}

// Args returns QEMU's command line for c, writing the exit record to
// ctlFile.
func (c *Config) qemuArgs(ctlFile string) ([]string, error) {
	mem := c.Memory
	if mem == "" {
		mem = "128M"
	}
	smp := c.SMP
	if smp == 0 {
		smp = 1
	}
	var machine string
	switch c.Machine {
	case "", "microvm":
		// rtc=on: the wall clock (QEMU leaves it off under KVM by default).
		machine = "microvm,rtc=on,pit=on,isa-serial=on"
	case "q35", "pc":
		machine = c.Machine
	default:
		return nil, fmt.Errorf("unknown machine %q (want microvm, q35 or pc)", c.Machine)
	}
	accel, cpu := "tcg", "max"
	switch c.Accel {
	case "", "auto":
		if KVMUsable() {
			accel, cpu = "kvm", "host"
		}
	case "kvm":
		accel, cpu = "kvm", "host"
	case "tcg":
	default:
		return nil, fmt.Errorf("unknown accelerator %q (want auto, kvm or tcg)", c.Accel)
	}
	netArgs, netOpts, err := c.network()
	if err != nil {
		return nil, err
	}
	if accel == "tcg" && smp > 1 {
		accel = "tcg,thread=multi"
	}
	name := c.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(c.Image), filepath.Ext(c.Image))
	}
	args := []string{
		"-machine", machine, "-accel", accel, "-cpu", cpu,
		"-m", mem, "-smp", strconv.Itoa(smp),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio",
		"-kernel", c.Image,
		"-append", Cmdline(name, c.Args, c.Env, append(netOpts, c.Options...)),
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4",
		"-chardev", "file,id=stardustctl,path=" + ctlFile,
		"-device", "isa-debugcon,iobase=0xe9,chardev=stardustctl",
	}
	args = append(args, netArgs...)
	shareArgs, err := c.shares()
	if err != nil {
		return nil, err
	}
	args = append(args, shareArgs...)
	// An entropy source: the host's /dev/urandom through virtio-rng.
	args = append(args, "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", c.virtio("rng")+",rng=rng0")
	if c.Machine == "" || c.Machine == "microvm" {
		args = append(args, "-global", "virtio-mmio.force-legacy=false")
	}
	diskArgs, diskOpts, err := c.disks()
	if err != nil {
		return nil, err
	}
	args = append(args, diskArgs...)
	for i, a := range args {
		if a == "-append" {
			args[i+1] = Cmdline(name, c.Args, c.Env, append(append(netOpts, diskOpts...), c.Options...))
		}
	}
	return append(args, c.Extra...), nil
}

// disks returns the QEMU arguments and kernel options for c.Disks: each a
// virtio-blk device with serial diskN, and the option disk.diskN=GUESTPATH
// that tells the kernel where to mount it. Raw images, write-back cache
// with flushes passed through: what the guest fsyncs is on the host disk.
func (c *Config) disks() (args, opts []string, err error) {
	if len(c.Disks) == 0 {
		return nil, nil, nil
	}
	args = []string{"-global", "virtio-mmio.force-legacy=false"}
	for i, d := range c.Disks {
		file, guest := DiskSpec(d, i)
		if file == "" || !strings.HasPrefix(guest, "/") || strings.ContainsAny(guest, " \t") {
			return nil, nil, fmt.Errorf("bad disk %q: want FILE[:GUESTPATH] with an absolute GUESTPATH without spaces", d)
		}
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, nil, fmt.Errorf("disk %q: %v", d, err)
		}
		id := fmt.Sprintf("disk%d", i)
		args = append(args,
			"-drive", fmt.Sprintf("file=%s,format=raw,if=none,id=%s,cache=writeback", strings.ReplaceAll(abs, ",", ",,"), id),
			"-device", fmt.Sprintf("%s,drive=%s,serial=%s", c.virtio("blk"), id, id))
		opts = append(opts, fmt.Sprintf("disk.%s=%s", id, guest))
	}
	return args, opts, nil
}

// virtio returns the QEMU device for a virtio device of the given kind
// (net, blk, 9p) on c's machine: virtio-mmio on microvm (modern, with the
// -global the callers add), virtio-pci elsewhere (modern only: the kernel
// has no legacy PCI driver).
func (c *Config) virtio(kind string) string {
	if c.Machine == "" || c.Machine == "microvm" {
		return "virtio-" + kind + "-device"
	}
	return "virtio-" + kind + "-pci,disable-legacy=on"
}

// DiskSpec splits the i-th -disk argument FILE[:GUESTPATH]; the guest
// path defaults to /data for the first disk and /dataN for the N-th.
func DiskSpec(spec string, i int) (file, guest string) {
	file, guest, ok := strings.Cut(spec, ":")
	if !ok {
		guest = "/data"
		if i > 0 {
			guest = fmt.Sprintf("/data%d", i+1)
		}
	}
	return file, guest
}

// shares returns the QEMU arguments for c.Shares: one virtio-9p device per
// share, whose mount tag is the guest path (the guest mounts it there).
func (c *Config) shares() ([]string, error) {
	if len(c.Shares) == 0 {
		return nil, nil
	}
	args := []string{"-global", "virtio-mmio.force-legacy=false"}
	for i, sh := range c.Shares {
		parts := strings.Split(sh, ":")
		ro := false
		if len(parts) == 3 && parts[2] == "ro" {
			ro, parts = true, parts[:2]
		}
		if len(parts) != 2 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
			return nil, fmt.Errorf("bad share %q: want HOSTDIR:GUESTDIR[:ro] with an absolute GUESTDIR", sh)
		}
		host, err := filepath.Abs(parts[0])
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(host); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("share %q: %s is not a directory", sh, host)
		}
		qemuEsc := func(s string) string { return strings.ReplaceAll(s, ",", ",,") }
		fsdev := fmt.Sprintf("local,id=fs%d,path=%s,security_model=none", i, qemuEsc(host))
		if ro {
			fsdev += ",readonly=on"
		}
		args = append(args, "-fsdev", fsdev, "-device", fmt.Sprintf("%s,fsdev=fs%d,mount_tag=%s", c.virtio("9p"), i, qemuEsc(parts[1])))
	}
	return args, nil
}

// network returns the QEMU arguments and kernel options for c's network.
func (c *Config) network() (args, opts []string, err error) {
	mode := c.Net
	if mode == "" {
		mode = "none"
		if UsesNetwork(c.Image) {
			mode = "user"
		}
	}
	if mode == "none" {
		if len(c.Ports) > 0 {
			return nil, nil, fmt.Errorf("-p needs a network, and this image has no network stack (it does not use package net)")
		}
		return nil, nil, nil
	}
	var netdev string
	switch {
	case mode == "user":
		netdev = "user,id=net0"
		for _, p := range c.Ports {
			fwd, err := hostfwd(p)
			if err != nil {
				return nil, nil, err
			}
			netdev += ",hostfwd=" + fwd
		}
		// QEMU's user network is always 10.0.2.0/24 with the host at .2 and
		// DNS at .3: a static configuration saves the DHCP round trips.
		if c.NetIP == "" {
			opts = []string{"net.ip=10.0.2.15/24", "net.gw=10.0.2.2"}
			if len(c.NetDNS) == 0 {
				opts = append(opts, "net.dns=10.0.2.3")
			}
		}
	case strings.HasPrefix(mode, "tap:"):
		if len(c.Ports) > 0 {
			return nil, nil, fmt.Errorf("-p forwards ports of QEMU's user network; with a tap device the guest has its own address")
		}
		netdev = "tap,id=net0,script=no,downscript=no,ifname=" + strings.TrimPrefix(mode, "tap:")
	default:
		return nil, nil, fmt.Errorf("unknown network %q (want user, none or tap:IFNAME)", mode)
	}
	static, err := c.staticNet()
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, static...)
	args = []string{"-global", "virtio-mmio.force-legacy=false", "-netdev", netdev, "-device", c.virtio("net") + ",netdev=net0"}
	return args, opts, nil
}

// staticNet checks the static network settings and returns them as kernel
// options (see kernel/network).
func (c *Config) staticNet() ([]string, error) {
	var opts []string
	if c.NetIP != "" {
		p, err := netip.ParsePrefix(c.NetIP)
		if err != nil {
			return nil, fmt.Errorf("bad -net-ip %q: want ADDRESS/PREFIXLEN, e.g. 192.168.1.20/24", c.NetIP)
		}
		opts = append(opts, "net.ip="+p.String())
	}
	if c.NetGW != "" {
		a, err := netip.ParseAddr(c.NetGW)
		if err != nil || c.NetIP == "" {
			return nil, fmt.Errorf("bad -net-gw %q: want an address, with -net-ip", c.NetGW)
		}
		opts = append(opts, "net.gw="+a.String())
	}
	for _, d := range c.NetDNS {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("bad -net-dns %q: want an address", d)
		}
		opts = append(opts, "net.dns="+a.String())
	}
	if c.Hostname != "" {
		for _, r := range c.Hostname {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
				return nil, fmt.Errorf("bad -hostname %q: letters, digits, '-' and '.' only", c.Hostname)
			}
		}
		if len(c.Hostname) > 63 {
			return nil, fmt.Errorf("bad -hostname %q: at most 63 characters", c.Hostname)
		}
		opts = append(opts, "hostname="+c.Hostname)
	}
	return opts, nil
}

// hostfwd turns HOSTPORT:GUESTPORT[/udp] into QEMU's hostfwd syntax.
func hostfwd(p string) (string, error) {
	proto := "tcp"
	if base, ok := strings.CutSuffix(p, "/udp"); ok {
		p, proto = base, "udp"
	} else if base, ok := strings.CutSuffix(p, "/tcp"); ok {
		p = base
	}
	host, guest, ok := strings.Cut(p, ":")
	hp, err1 := strconv.Atoi(host)
	gp, err2 := strconv.Atoi(guest)
	if !ok || err1 != nil || err2 != nil || hp < 1 || hp > 65535 || gp < 1 || gp > 65535 {
		return "", fmt.Errorf("bad port forward %q: want HOSTPORT:GUESTPORT[/udp]", p)
	}
	return fmt.Sprintf("%s:127.0.0.1:%d-:%d", proto, hp, gp), nil
}

// UsesNetwork reports whether an image links Stardust's network stack.
func UsesNetwork(image string) bool {
	f, err := elf.Open(image)
	if err != nil {
		return false
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return false
	}
	for _, s := range syms {
		if s.Name == "github.com/stardust-go/stardust/kernel/network.start" {
			return true
		}
	}
	return false
}

// Run boots the VM and waits for it to end.
func Run(ctx context.Context, c Config) (Result, error) {
	qemu, err := QEMUPath()
	if err != nil {
		return Result{}, err
	}
	ctl, err := os.CreateTemp("", "stardust-exit-")
	if err != nil {
		return Result{}, err
	}
	ctl.Close()
	defer os.Remove(ctl.Name())
	args, err := c.qemuArgs(ctl.Name())
	if err != nil {
		return Result{}, err
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	stdout, stderr := c.Stdout, c.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	sym := newSymbolizer(c.Image, stdout)
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdout = sym
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	// QEMU must not outlive its runner, however the runner ends (a
	// SIGKILL included): the kernel sends it SIGKILL when we go.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runErr := cmd.Run()
	sym.Flush()

	record, _ := os.ReadFile(ctl.Name())
	if ctx.Err() == context.DeadlineExceeded {
		return Result{Outcome: TimedOut, Detail: fmt.Sprintf("killed after %v", c.Timeout)}, nil
	}
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	detail := "qemu: exit status 0"
	if runErr != nil {
		detail = "qemu: " + runErr.Error()
	}
	fields := strings.Fields(string(record))
	if len(fields) >= 2 {
		n, err := strconv.Atoi(fields[len(fields)-1])
		switch {
		case fields[len(fields)-2] == "panic":
			return Result{Outcome: KernelPanic, Detail: detail}, nil
		case fields[len(fields)-2] == "exit" && err == nil:
			return Result{Outcome: Exited, Status: n, Detail: detail}, nil
		}
	}
	var ee *exec.ExitError
	if runErr != nil && !errors.As(runErr, &ee) {
		return Result{}, fmt.Errorf("starting qemu: %w", runErr)
	}
	return Result{Outcome: Vanished, Detail: detail}, nil
}
