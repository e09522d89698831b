package linux

import (
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/mem"
	"github.com/stardust-go/stardust/kernel/rand"
	"github.com/stardust-go/stardust/kernel/sched"
)

// Stardust's own system calls (see package bridge): what service-context
// drivers need from the kernel — device-visible memory, device registers,
// interrupts — and the bridge's request queue.

var (
	devices  [32]bridge.Device
	ndevices int

	irqCount [VectorIRQCount]uint64
	irqSetUp [VectorIRQCount]bool

	cmdlineAddr, cmdlineLen uintptr
)

// Device interrupts use vectors VectorIRQBase+gsi.
const (
	VectorIRQBase  = 64
	VectorIRQCount = 64
)

// AddDevice records a device found at boot.
//
//go:nosplit
func AddDevice(d bridge.Device) {
	if ndevices < len(devices) {
		devices[ndevices] = d
		ndevices++
	}
}

// SetCmdline records the kernel command line (kept as an address: a slice
// in a global would be a pointer store).
//
//go:nosplit
func SetCmdline(addr, n uintptr) {
	cmdlineAddr, cmdlineLen = addr, n
	// The option hostname=NAME sets what uname reports.
	cl := unsafe.Slice((*byte)(unsafe.Pointer(addr)), n)
	for tok, isArg, pos := nextToken(cl, 0, false); tok != nil && !isArg; tok, isArg, pos = nextToken(cl, pos, isArg) {
		if len(tok) > 9 && string(tok[:9]) == "hostname=" && len(tok)-9 < len(hostname) {
			for i := range hostname {
				hostname[i] = 0
			}
			copy(hostname[:], tok[9:])
		}
	}
}

// stardustTable is indexed by number - bridge.SysFirst. (A table, not a
// switch: the call chain from the trap entry must stay shallow, as the
// linker bounds nosplit stacks.)
var stardustTable = [...]handler{
	bridge.SysWait - bridge.SysFirst:      sysBridgeWait,
	bridge.SysDone - bridge.SysFirst:      sysBridgeDone,
	bridge.SysReady - bridge.SysFirst:     sysBridgeReady,
	bridge.SysDMAAlloc - bridge.SysFirst:  sysDMAAlloc,
	bridge.SysMapMMIO - bridge.SysFirst:   sysMapMMIO,
	bridge.SysIRQWait - bridge.SysFirst:   sysIRQWait,
	bridge.SysDevices - bridge.SysFirst:   sysDevices,
	bridge.SysKernelOpt - bridge.SysFirst: sysKernelOpt,
	bridge.SysPoolPut - bridge.SysFirst:   sysPoolPut,
	bridge.SysSetAddr - bridge.SysFirst:   sysSetAddr,
	bridge.SysServe - bridge.SysFirst:     sysBridgeServe,
	bridge.SysFileMaps - bridge.SysFirst:  sysFileMaps,
	bridge.SysPCIConfig - bridge.SysFirst: sysPCIConfig,
	bridge.SysMSIAlloc - bridge.SysFirst:  sysMSIAlloc,
	bridge.SysEntropy - bridge.SysFirst:   sysEntropy,
}

// Entropy(buf, len): bytes from a hardware source (virtio-rng), mixed
// into the generator eight at a time.
//
//go:nosplit
func sysEntropy(f *amd64.Frame) uintptr {
	n := uintptr(f.RSI)
	if n > 4096 {
		return errno(syscall.EINVAL)
	}
	b, ok := userBytes(uintptr(f.RDI), n, false)
	if !ok {
		return errno(syscall.EFAULT)
	}
	for i := uintptr(0); i < n; i += 8 {
		var v uint64
		for j := i; j < i+8 && j < n; j++ {
			v = v<<8 | uint64(b[j])
		}
		rand.Mix(v)
	}
	return 0
}

// DMAAlloc(size, physOut)
//
//go:nosplit
func sysDMAAlloc(f *amd64.Frame) uintptr {
	size, out := uintptr(f.RDI), uintptr(f.RSI)
	if size == 0 || size > 64<<20 {
		return errno(syscall.EINVAL)
	}
	if _, ok := userBytes(out, 8, true); !ok {
		return errno(syscall.EFAULT)
	}
	n := (size + mem.PageSize - 1) / mem.PageSize
	pa := mem.AllocContiguous(n)
	if pa == 0 {
		return errno(syscall.ENOMEM)
	}
	va := mem.MapPhysical(pa, n*mem.PageSize, 0)
	if va == 0 {
		return errno(syscall.ENOMEM)
	}
	*(*uint64)(unsafe.Pointer(out)) = uint64(pa)
	return va
}

// MapMMIO(phys, size): only the register windows of devices found at boot.
//
//go:nosplit
func sysMapMMIO(f *amd64.Frame) uintptr {
	pa, size := f.RDI, f.RSI
	for i := 0; i < ndevices; i++ {
		d := &devices[i]
		if pa >= d.Phys && pa+size <= d.Phys+d.Size && pa+size > pa {
			va := mem.MapPhysical(uintptr(pa), uintptr(size), mem.PTENoCache|mem.PTEPWT)
			if va == 0 {
				return errno(syscall.ENOMEM)
			}
			return va
		}
	}
	if mmioAllowed(pa, size) {
		va := mem.MapPhysical(uintptr(pa), uintptr(size), mem.PTENoCache|mem.PTEPWT)
		if va == 0 {
			return errno(syscall.ENOMEM)
		}
		return va
	}
	return errno(syscall.EPERM)
}

// IRQWait(gsi, seen): route and unmask the line on first use, then wait
// for an interrupt newer than seen. The handler masks the line (it is
// level-triggered and stays asserted until the driver acknowledges the
// device), so unmasking here is what re-arms it.
//
//go:nosplit
func sysIRQWait(f *amd64.Frame) uintptr {
	gsi, seen := f.RDI, f.RSI
	known := false
	for i := 0; i < ndevices; i++ {
		if uint64(devices[i].GSI) == gsi {
			known = true
		}
	}
	if gsi < VectorIRQCount && isMSI[gsi] {
		// An MSI: edge-triggered, nothing to route or unmask.
		for irqCount[gsi] <= seen {
			if sched.Block(irqKey(gsi), 0, true) == sched.WokenSignal {
				return errno(syscall.EINTR)
			}
		}
		return uintptr(irqCount[gsi])
	}
	if !known || gsi >= VectorIRQCount {
		return errno(syscall.EINVAL)
	}
	if !irqSetUp[gsi] {
		if !amd64.RouteGSI(uint32(gsi), uint8(VectorIRQBase+gsi), amd64.APICID(), true, false) {
			return errno(syscall.ENODEV)
		}
		irqSetUp[gsi] = true
	}
	amd64.MaskGSI(uint32(gsi), false)
	for irqCount[gsi] <= seen {
		if sched.Block(irqKey(gsi), 0, true) == sched.WokenSignal {
			return errno(syscall.EINTR)
		}
	}
	return uintptr(irqCount[gsi])
}

//go:nosplit
func irqKey(gsi uint64) uintptr { return 0xFFFF_FFFF_FFFF_B000 + uintptr(gsi)*8 }

// Interrupt handles a device interrupt on line gsi: mask it, count it and
// wake the driver goroutine waiting in IRQWait.
//
//go:nosplit
func Interrupt(gsi uint64) {
	if !isMSI[gsi&(VectorIRQCount-1)] {
		amd64.MaskGSI(uint32(gsi), true)
	}
	amd64.EOI()
	irqCount[gsi]++
	sched.WakeKey(irqKey(gsi), sched.MaxThreads)
}

//go:nosplit
func sysDevices(f *amd64.Frame) uintptr {
	buf, n := uintptr(f.RDI), int(f.RSI)
	if n > ndevices {
		n = ndevices
	}
	size := unsafe.Sizeof(bridge.Device{})
	b, ok := userBytes(buf, uintptr(n)*size, true)
	if !ok {
		return errno(syscall.EFAULT)
	}
	for i := 0; i < n; i++ {
		*(*bridge.Device)(unsafe.Pointer(&b[uintptr(i)*size])) = devices[i]
	}
	return uintptr(n)
}

// KernelOption(buf, size): the command line up to "--".
//
//go:nosplit
func sysKernelOpt(f *amd64.Frame) uintptr {
	cl := unsafe.Slice((*byte)(unsafe.Pointer(cmdlineAddr)), cmdlineLen)
	end := 0
	for tok, isArg, pos := nextToken(cl, 0, false); tok != nil && !isArg; tok, isArg, pos = nextToken(cl, pos, isArg) {
		end = pos
	}
	if uintptr(end) > uintptr(f.RSI) {
		end = int(f.RSI)
	}
	b, ok := userBytes(uintptr(f.RDI), uintptr(end), true)
	if !ok {
		return errno(syscall.EFAULT)
	}
	copy(b, cl[:end])
	return uintptr(end)
}
