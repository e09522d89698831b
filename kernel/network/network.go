// Package network brings up networking in an image: it finds the virtio-net
// device the kernel discovered, drives it (kernel/drivers/virtio), runs
// gVisor's netstack over it (kernel/net) and makes socket(2) create
// netstack sockets. `stardust build` links this package into programs that
// use package net; others stay small.
//
// Configuration comes from kernel options: net.ip=ADDR/PREFIX, net.gw=ADDR,
// net.dns=ADDR (repeatable) give a static configuration, as `stardust run`
// passes for QEMU's user networking; without net.ip, DHCP is used.
//
// Execution context: service context.
package network

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/devices"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/files"
	knet "github.com/stardust-go/stardust/kernel/net"
	"github.com/stardust-go/stardust/kernel/services"
)

var (
	stack   *knet.Stack
	ready   = make(chan struct{})
	initErr error
	once    sync.Once
)

// init brings the network up before main.main runs, so that the program's
// first socket call finds the stack (and the kernel's socket pool) ready.
// Only DHCP, when used, continues in the background.
func init() {
	services.SocketFactory = socket
	services.AcceptFunc = accept
	once.Do(start)
}

func socket(domain, typ, protocol int) (fdesc.Description, error) {
	<-ready
	if stack == nil {
		return nil, initErr
	}
	return stack.Socket(domain, typ, protocol)
}

func accept(d fdesc.Description, flags int) (fdesc.Description, []byte, error) {
	s, ok := d.(knet.SocketOps)
	if !ok {
		return nil, nil, errNotSocket
	}
	nd, sa, err := s.Accept(flags)
	if err != nil {
		return nil, nil, err
	}
	return nd, sa, nil
}

var errNotSocket = fmt.Errorf("not a socket")

// Stack returns the network stack once it is up (for diagnostics).
func Stack() *knet.Stack {
	<-ready
	return stack
}

func start() {
	defer func() {
		close(ready)
		services.FillPools()
	}()
	st, err := knet.NewStackWithClock(newClock())
	if err != nil {
		initErr = err
		logf("network stack: %v", err)
		return
	}
	stack = st
	opts := parseOptions(bridge.KernelOptions())
	if opts.hostname != "" {
		st.SetHostname(opts.hostname)
	}
	// /etc/resolv.conf follows the configuration (static, or what DHCP
	// reports) over the file packed into the image, once it names a
	// server, as a Linux DHCP client rewrites it.
	files.SetGenerated("/etc/resolv.conf", func() ([]byte, bool) {
		rc := st.ResolvConf()
		return rc, bytes.Contains(rc, []byte("nameserver "))
	})
	nic, err := findNIC()
	if err != nil {
		logf("%v", err)
	}
	if nic == nil {
		return // loopback only
	}
	if err := st.AttachDevice(nic); err != nil {
		logf("attach eth0: %v", err)
		return
	}
	if opts.addr.IsValid() {
		err = st.ConfigureStatic(knet.StaticConfig{Addr: opts.addr, Gateway: opts.gw, DNS: opts.dns})
		if err != nil {
			logf("static configuration: %v", err)
		}
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := st.ConfigureDHCP(ctx, knet.DHCPConfig{Hostname: st.Hostname()}); err != nil {
			logf("DHCP: %v", err)
			return
		}
		if len(opts.dns) > 0 {
			st.SetDNS(opts.dns, nil) // name servers given as options win over DHCP's
		}
	}()
}

type options struct {
	addr     netip.Prefix
	gw       netip.Addr
	dns      []netip.Addr
	hostname string
}

func parseOptions(cmdline string) options {
	var o options
	for _, w := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			continue
		}
		switch k {
		case "net.ip":
			o.addr, _ = netip.ParsePrefix(v)
		case "net.gw":
			o.gw, _ = netip.ParseAddr(v)
		case "net.dns":
			if a, err := netip.ParseAddr(v); err == nil {
				o.dns = append(o.dns, a)
			}
		case "hostname":
			o.hostname = v
		}
	}
	return o
}

// findNIC drives the first virtio-net device, if there is one.
func findNIC() (*virtio.Net, error) {
	for _, d := range devices.VirtioDevices(virtio.DeviceIDNet) {
		tr, serve, err := d.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", d.Name, err)
		}
		nic, err := virtio.NewNet(tr, devices.DMA{})
		if err != nil {
			return nil, fmt.Errorf("%s: %v", d.Name, err)
		}
		serve(nic.HandleInterrupt)
		return nic, nil
	}
	return nil, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[stardust] network: "+format+"\n", args...)
}

// clock is netstack's clock in the VM. netstack reads the monotonic time
// several times per segment, and the standard clock's time.Since reads
// both the wall and the monotonic clock through the runtime's vDSO path;
// reading the TSC directly with the kernel's parameters gives the same
// nanoseconds for a fraction of the cost under emulation.
type clock struct {
	tcpip.Clock // Now and AfterFunc: the standard library's
}

func newClock() tcpip.Clock { return clock{tcpip.NewStdClock()} }

func (c clock) NowMonotonic() tcpip.MonotonicTime {
	ns, ok := amd64.VDSONanotime()
	if !ok {
		return c.Clock.NowMonotonic()
	}
	return tcpip.MonotonicTime{}.Add(time.Duration(ns))
}
