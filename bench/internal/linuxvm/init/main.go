// Command init is PID 1 of the minimal Linux VM the benchmarks compare
// Stardust with: it loads the kernel modules packed in /modules (in file
// name order), configures eth0 from the kernel command line (sdip=ADDR/N,
// sdgw=ADDR: unknown parameters with '=' reach init as environment
// variables), mounts devtmpfs and proc and the ext4 volume sddisk=DEV at
// /data, and executes /prog with the arguments given after "--" on the
// kernel command line.
package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
	"unsafe"
)

// sysFinitModule is finit_module(2) on x86-64.
const sysFinitModule = 313

func main() {
	must("mount /proc", syscall.Mount("proc", "/proc", "proc", 0, ""))
	must("mount /dev", syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, ""))
	mods, _ := filepath.Glob("/modules/*.ko")
	sort.Strings(mods)
	for _, m := range mods {
		f, err := os.Open(m)
		must("open "+m, err)
		noParams := []byte{0}
		if _, _, e := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafe.Pointer(&noParams[0])), 0); e != 0 && e != syscall.EEXIST {
			fmt.Fprintf(os.Stderr, "init: loading %s: %v\n", m, e)
		}
		f.Close()
	}
	if ip := os.Getenv("sdip"); ip != "" {
		configure(ip, os.Getenv("sdgw"))
	}
	if disk := os.Getenv("sddisk"); disk != "" {
		// The volume, where Stardust's -disk puts it.
		for i := 0; syscall.Mount(disk, "/data", "ext4", 0, "") != nil; i++ {
			if i == 500 {
				must("mount "+disk, fmt.Errorf("not mountable after 5 s"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	args := append([]string{"/prog"}, os.Args[1:]...)
	must("exec /prog", syscall.Exec("/prog", args, []string{"PATH=/", "HOME=/"}))
}

// configure brings up lo and eth0 with a static address and a default
// route, with the classic ioctls (no netlink library needed).
func configure(cidr, gw string) {
	p, err := netip.ParsePrefix(cidr)
	must("sdip", err)
	s, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	must("socket", err)
	up(s, "lo")
	for i := 0; ; i++ {
		if _, err := net.InterfaceByName("eth0"); err == nil {
			break
		}
		if i == 500 {
			must("eth0", fmt.Errorf("no eth0 after 5 s"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	setAddr(s, "eth0", syscall.SIOCSIFADDR, p.Addr().As4())
	mask := net.CIDRMask(p.Bits(), 32)
	setAddr(s, "eth0", syscall.SIOCSIFNETMASK, [4]byte(mask))
	up(s, "eth0")
	if gw != "" {
		g, err := netip.ParseAddr(gw)
		must("sdgw", err)
		// struct rtentry: rt_dst, rt_gateway, rt_genmask (sockaddrs at
		// 8, 24, 40), rt_flags at 56.
		var rt [120]byte
		putSockaddr(rt[8:], [4]byte{})
		putSockaddr(rt[24:], g.As4())
		putSockaddr(rt[40:], [4]byte{})
		*(*uint16)(unsafe.Pointer(&rt[56])) = syscall.RTF_UP | syscall.RTF_GATEWAY
		ioctl(s, syscall.SIOCADDRT, unsafe.Pointer(&rt[0]), "default route")
	}
}

func putSockaddr(b []byte, a [4]byte) {
	b[0] = syscall.AF_INET
	copy(b[4:8], a[:])
}

// ifreq is struct ifreq: the name, then a union (a sockaddr or flags).
type ifreq struct {
	name [16]byte
	data [24]byte
}

func setAddr(s int, dev string, req uintptr, a [4]byte) {
	var r ifreq
	copy(r.name[:], dev)
	putSockaddr(r.data[:], a)
	ioctl(s, req, unsafe.Pointer(&r), dev)
}

func up(s int, dev string) {
	var r ifreq
	copy(r.name[:], dev)
	ioctl(s, syscall.SIOCGIFFLAGS, unsafe.Pointer(&r), dev)
	*(*uint16)(unsafe.Pointer(&r.data[0])) |= syscall.IFF_UP | syscall.IFF_RUNNING
	ioctl(s, syscall.SIOCSIFFLAGS, unsafe.Pointer(&r), dev)
}

func ioctl(s int, req uintptr, p unsafe.Pointer, what string) {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(s), req, uintptr(p)); e != 0 {
		must(what, e)
	}
}

func must(what string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "init: %s: %v\n", what, err)
		syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	}
}
