package linux

import (
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/mem"
)

// Hostname is what uname reports (set from the kernel command line).
var hostname = [65]byte{'s', 't', 'a', 'r', 'd', 'u', 's', 't'}

// uname(buf): six 65-byte fields.
//
//go:nosplit
func sysUname(f *amd64.Frame) uintptr {
	b, ok := userBytes(uintptr(f.RDI), 6*65, true)
	if !ok {
		return errno(syscall.EFAULT)
	}
	for i := range b {
		b[i] = 0
	}
	copy(b[0:], "Linux")
	copy(b[65:], hostname[:64])
	// A release new enough that Go's net and os packages use the modern
	// system calls they probe for.
	copy(b[130:], "6.1.0-stardust")
	copy(b[195:], "#1 SMP Stardust")
	copy(b[260:], "x86_64")
	copy(b[325:], "(none)")
	return 0
}

// Resource limits: RLIMIT_NOFILE is the descriptor table's size; the
// others are unlimited. Settings are kept so a program reads back what it set.
var rlimits [16][2]uint64

const rlimitNofile = 7
const rlimInfinity = ^uint64(0)

//go:nosplit
func initRlimits() {
	for i := range rlimits {
		rlimits[i] = [2]uint64{rlimInfinity, rlimInfinity}
	}
	rlimits[rlimitNofile] = [2]uint64{maxFDs, maxFDs}
	rlimits[3] = [2]uint64{8 << 20, rlimInfinity} // RLIMIT_STACK
}

// prlimit64(pid, resource, new, old)
//
//go:nosplit
func sysPrlimit64(f *amd64.Frame) uintptr {
	p, res, nw, old := int64(f.RDI), f.RSI, uintptr(f.RDX), uintptr(f.R10)
	if p != 0 && p != pid {
		return errno(syscall.ESRCH)
	}
	if res >= uint64(len(rlimits)) {
		return errno(syscall.EINVAL)
	}
	if old != 0 && (!writeU64(old, rlimits[res][0]) || !writeU64(old+8, rlimits[res][1])) {
		return errno(syscall.EFAULT)
	}
	if nw != 0 {
		cur, ok1 := readU64(nw)
		max, ok2 := readU64(nw + 8)
		if !ok1 || !ok2 {
			return errno(syscall.EFAULT)
		}
		if cur > max || max > rlimits[res][1] {
			return errno(syscall.EPERM)
		}
		rlimits[res] = [2]uint64{cur, max}
	}
	return 0
}

//go:nosplit
func sysGetrlimit(f *amd64.Frame) uintptr {
	res := f.RDI
	if res >= uint64(len(rlimits)) {
		return errno(syscall.EINVAL)
	}
	if !writeU64(uintptr(f.RSI), rlimits[res][0]) || !writeU64(uintptr(f.RSI)+8, rlimits[res][1]) {
		return errno(syscall.EFAULT)
	}
	return 0
}

// sysinfo(info): uptime and memory.
//
//go:nosplit
func sysSysinfo(f *amd64.Frame) uintptr {
	b, ok := userBytes(uintptr(f.RDI), unsafe.Sizeof(syscall.Sysinfo_t{}), true)
	if !ok {
		return errno(syscall.EFAULT)
	}
	free, total := mem.FreeFrames()
	si := (*syscall.Sysinfo_t)(unsafe.Pointer(&b[0]))
	*si = syscall.Sysinfo_t{Uptime: clock.Nanotime() / 1e9, Totalram: uint64(total), Freeram: uint64(free), Procs: 1, Unit: mem.PageSize}
	return 0
}

// umask is the program's file mode creation mask. The kernel keeps it and
// applies it to creating calls before they are forwarded (see sysOpenat):
// Go makes umask with RawSyscall, so it must not wait for the service.
var umask uint64 = 0o022

//go:nosplit
func sysUmask(f *amd64.Frame) uintptr {
	old := umask
	umask = f.RDI & 0o777
	return uintptr(old)
}

// getcwd(buf, size): the working directory is / until the VFS arrives.
//
//go:nosplit
func sysGetcwd(f *amd64.Frame) uintptr {
	if f.RSI < 2 {
		return errno(syscall.ERANGE)
	}
	if serviceUp {
		if _, ok := userBytes(uintptr(f.RDI), uintptr(f.RSI), true); !ok {
			return errno(syscall.EFAULT)
		}
		return forward(bridge.OpGetcwd, -1, 0, f.RDI, f.RSI, 0, 0, 0, 0)
	}
	b, ok := userBytes(uintptr(f.RDI), 2, true)
	if !ok {
		return errno(syscall.EFAULT)
	}
	b[0], b[1] = '/', 0
	return 2
}
