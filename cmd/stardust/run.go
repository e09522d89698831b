package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/stardust-go/stardust/image"
	"github.com/stardust-go/stardust/toolchain"
	"github.com/stardust-go/stardust/vmm"
)

// Exit statuses of `stardust run` that are not the program's own. The
// program's status (0-255) passes through unchanged; these are reported
// with a message on standard error so they can be told apart.
const (
	statusTimeout  = 124 // -timeout passed (as timeout(1))
	statusVanished = 254 // the VM stopped without reporting a status
	statusPanic    = 255 // the kernel panicked
)

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var o runOptions
	mem := fs.String("m", "128M", "guest memory (QEMU -m syntax)")
	machine := fs.String("machine", "microvm", "QEMU machine: microvm, q35 or pc")
	accel := fs.String("accel", "auto", "accelerator: auto (KVM where it really works, else TCG), kvm or tcg")
	smp := fs.Int("smp", 1, "number of vCPUs")
	env := listFlag{}
	fs.Var(&env, "env", "set KEY=VALUE in the program's environment (repeatable)")
	fs.DurationVar(&o.Timeout, "timeout", 0, "kill the VM after this long (exit status 124)")
	ports := listFlag{}
	fs.Var(&ports, "p", "forward HOSTPORT:GUESTPORT[/udp] from 127.0.0.1 to the program (repeatable)")
	disks := listFlag{}
	fs.Var(&disks, "disk", "attach FILE[:GUESTPATH], a raw ext4 image mounted at GUESTPATH (default /data, /data2, ...); created with -disk-size if FILE does not exist (repeatable)")
	diskSize := fs.String("disk-size", "64M", "size of disk images -disk creates")
	netMode := fs.String("net", "", "network: user (QEMU's user networking; the default for images that use package net), none, or tap:IFNAME")
	vols := listFlag{}
	fs.Var(&vols, "v", "share HOSTDIR:GUESTDIR[:ro] with the program over virtio-9p (repeatable)")
	netIP := fs.String("net-ip", "", "static guest address ADDR/PREFIX (default 10.0.2.15/24 on the user network; DHCP on a tap)")
	netGW := fs.String("net-gw", "", "static default gateway (with -net-ip)")
	netDNS := listFlag{}
	fs.Var(&netDNS, "net-dns", "name server for the guest's /etc/resolv.conf (repeatable; default: QEMU's 10.0.2.3, or what DHCP says)")
	hostname := fs.String("hostname", "", "the guest's host name")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: stardust run [flags] IMAGE|PKG|FILE.wasm [-- ARGS...]\n\n"+
			"Boots IMAGE (or builds the main package PKG first) under QEMU with the serial\n"+
			"console on standard output. The exit status is the program's; 124 means -timeout\n"+
			"passed, 254 that the VM stopped without a status, 255 a kernel panic (each with a\n"+
			"message on standard error).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	target := rest[0]
	rest = rest[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	} else if len(rest) > 0 {
		return fail("unexpected argument %q: put the program's arguments after --", rest[0])
	}
	o.Args, o.Env, o.Ports, o.Volumes = rest, env, ports, vols
	for _, e := range o.Env {
		if !strings.Contains(e, "=") {
			return fail("-env %q: want KEY=VALUE", e)
		}
	}

	if strings.HasSuffix(target, ".wasm") {
		status, err := runWASI(target, o)
		if err != nil {
			return fail("%v", err)
		}
		return status
	}

	img := target
	if st, err := os.Stat(target); err != nil || st.IsDir() {
		// Not an image file: build the package first.
		tmp, err := os.MkdirTemp("", "stardust-run-")
		if err != nil {
			return fail("%v", err)
		}
		defer os.RemoveAll(tmp)
		img = filepath.Join(tmp, defaultName(target)+".img")
		if err := build(buildOptions{Pkg: target, Output: img, With: neededParts(disks, vols)}); err != nil {
			return fail("%v", err)
		}
	} else {
		b, err := os.ReadFile(img)
		if err != nil {
			return fail("%v", err)
		}
		if _, err := image.PVHEntry(b); err != nil {
			return fail("%s: %v", img, err)
		}
		if err := checkParts(img, neededParts(disks, vols)); err != nil {
			return fail("%v", err)
		}
	}

	for _, d := range disks {
		if err := ensureDisk(d, *diskSize); err != nil {
			return fail("%v", err)
		}
	}

	// Interrupt, termination and hang-up stop the VM before we exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	res, err := vmm.Run(ctx, vmm.Config{
		Image: img, Memory: *mem, Machine: *machine, Accel: *accel, SMP: *smp,
		Args: o.Args, Env: o.Env, Timeout: o.Timeout, Net: *netMode, Ports: o.Ports, Shares: o.Volumes, Disks: disks,
		NetIP: *netIP, NetGW: *netGW, NetDNS: netDNS, Hostname: *hostname,
		Name:  strings.TrimSuffix(filepath.Base(img), ".img"),
		Extra: strings.Fields(os.Getenv("STARDUST_QEMU_ARGS")), // for debugging, e.g. "-d int,cpu_reset -D qemu.log"
	})
	if err != nil {
		return fail("%v", err)
	}
	switch res.Outcome {
	case vmm.Exited:
		return res.Status
	case vmm.TimedOut:
		fmt.Fprintf(os.Stderr, "stardust: timeout: the VM was %s\n", res.Detail)
		return statusTimeout
	case vmm.KernelPanic:
		fmt.Fprintf(os.Stderr, "stardust: kernel panic (report above)\n")
		return statusPanic
	}
	fmt.Fprintf(os.Stderr, "stardust: the VM stopped without reporting an exit status (%s); a triple fault looks like this\n", res.Detail)
	return statusVanished
}

// partFlags are the run flags that need an optional part of the image.
var partFlags = []struct{ part, flag string }{
	{"disks", "-disk"},
	{"shares", "-v"},
}

// neededParts returns the optional parts the -disk and -v flags need.
func neededParts(disks, shares []string) []string {
	var need []string
	if len(disks) > 0 {
		need = append(need, "disks")
	}
	if len(shares) > 0 {
		need = append(need, "shares")
	}
	return need
}

// checkParts refuses an image that lacks a part the flags need, before
// QEMU starts: the kernel would only say it ignores the device, and the
// program would find no volume where it expects one.
func checkParts(img string, need []string) error {
	if len(need) == 0 {
		return nil
	}
	have, err := toolchain.ImageParts(img)
	if err != nil {
		return err
	}
	var missing, flags []string
	for _, pf := range partFlags {
		if slices.Contains(need, pf.part) && !slices.Contains(have, pf.part) {
			missing = append(missing, pf.part)
			flags = append(flags, pf.flag)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s was built without %s (needed by %s): rebuild it with `stardust build -with %s -o %s PKG`, or give stardust run the package instead of the image",
		img, strings.Join(missing, " and "), strings.Join(flags, " and "), strings.Join(missing, ","), img)
}
