// Package bridge is the contract between the two halves of a forwarded
// system call: the trap-context half in package linux, which queues the
// request and blocks the calling thread, and the service-context half in
// package services, which runs in ordinary goroutines and answers it.
//
// It defines the request layout, the operation numbers and Stardust's own
// system calls (numbers from 4096, far above Linux's), and wraps those calls
// for the service side.
//
// Execution context: the constants and types are used by both; the
// functions (Wait, Done, Ready, ...) are called only from service context.
package bridge

import (
	"syscall"
	"unsafe"
)

// Stardust's own system calls, made by service goroutines.
const (
	SysWait      = 4096 // Wait(req *Request) -> slot: block until a request is queued
	SysDone      = 4097 // Done(slot, result, readiness): complete a request, wake its thread
	SysReady     = 4098 // Ready(handle, mask): a description's readiness changed
	SysDMAAlloc  = 4099 // DMAAlloc(size, physOut *uint64) -> va: zeroed, contiguous, device-visible memory
	SysMapMMIO   = 4100 // MapMMIO(phys, size) -> va: a device's registers, uncached
	SysIRQWait   = 4101 // IRQWait(gsi, seen) -> count: unmask the line, wait for its next interrupt
	SysDevices   = 4102 // Devices(buf *[N]Device, n) -> count: what the kernel found at boot
	SysKernelOpt = 4103 // KernelOption(buf, size) -> len: the kernel command line's options
	SysPoolPut   = 4104 // PoolPut(kind, entry): a fresh socket for socket(2), or pipe for pipe2(2), to hand out
	SysSetAddr   = 4105 // SetAddr(handle, which, buf, len): a socket's local (0) or peer (1) address
	SysServe     = 4106 // Serve(): the server is starting; forward requests from now on
	SysFileMaps  = 4107 // FileMaps(op, addr, len): mirror a shared file mapping's range, or unmap without forwarding
	SysPCIConfig = 4108 // PCIConfig(op, bdf, off, val): read (0) or write (1) a PCI configuration register
	SysMSIAlloc  = 4109 // MSIAlloc() -> gsi | apicID<<8 | vector<<16: an MSI vector for a driver
	SysEntropy   = 4110 // Entropy(buf, len): mix random bytes from a device into the kernel's generator
	SysFirst     = SysWait
	SysLast      = SysEntropy
)

// Why the pools and the address cache: Go's syscall package makes socket,
// getsockname, getpeername and pipe2 with RawSyscall, which does not tell
// the runtime the thread may block, so the thread keeps its P. If such a
// call waited for a service goroutine and the program has one P, nothing
// could run the service goroutine. So the kernel answers these from state
// the service side keeps filled: pre-created sockets and pipes, and cached
// addresses.

// Pool kinds: sockets, and pipes (an entry holds the read end's handle in
// bits 0-15 and the write end's in bits 16-31).
const (
	PoolTCP4 = iota
	PoolUDP4
	PoolTCP6
	PoolUDP6
	PoolPipe
	PoolKinds
	PoolSize = 32 // descriptions kept ready per kind
)

// Socket domains, types and protocols (Linux's values).
const (
	AFInet     = 2
	AFInet6    = 10
	SockStream = 1
	SockDgram  = 2
	ProtoTCP   = 6
	ProtoUDP   = 17
)

// PoolKind returns the pool for socket(domain, typ, proto), or -1 with
// the reason as an errno. (Trap context calls it.)
//
//go:nosplit
func PoolKind(domain, typ, proto uint64) (int, syscall.Errno) {
	typ &= 0xF // SOCK_NONBLOCK and SOCK_CLOEXEC are flags
	var k int
	switch domain {
	case AFInet:
		k = PoolTCP4
	case AFInet6:
		k = PoolTCP6
	default:
		return -1, syscall.EAFNOSUPPORT
	}
	switch {
	case typ == SockStream && (proto == 0 || proto == ProtoTCP):
	case typ == SockDgram && (proto == 0 || proto == ProtoUDP):
		k++
	case typ == SockStream || typ == SockDgram:
		return -1, syscall.EPROTONOSUPPORT
	default:
		return -1, syscall.ESOCKTNOSUPPORT
	}
	return k, 0
}

// PipeEntry packs a pipe's two handles into a PoolPipe entry.
func PipeEntry(read, write int32) int32 { return read | write<<16 }

// PipeHandles unpacks a PoolPipe entry. (Trap context calls it.)
//
//go:nosplit
func PipeHandles(e int32) (read, write int32) { return e & 0xFFFF, e >> 16 & 0xFFFF }

// PipePool is how many pipes the service keeps ready (fewer than sockets:
// programs make few; the first ones are created before main runs).
const PipePool = 8

// PoolSocket returns the socket(2) arguments that create sockets of kind k.
func PoolSocket(k int) (domain, typ, proto int) {
	domain = AFInet
	if k >= PoolTCP6 {
		domain = AFInet6
	}
	typ = SockStream
	if k%2 == 1 {
		typ = SockDgram
	}
	return domain, typ, 0
}

// Request is one forwarded system call, as SysWait copies it out.
type Request struct {
	Slot   int32     // the waiting thread's slot: pass it to Done
	Op     int32     // Op*
	Handle int32     // the description the call is about (or -1)
	Flags  int32     // file-descriptor flags of the fd it came through (O_NONBLOCK)
	Args   [6]uint64 // the system call's arguments, already checked where they are pointers
}

// Operations. Args are the system call's own unless noted.
const (
	OpNone     = iota
	OpClose    // the last file descriptor for Handle was closed
	OpRead     // read(fd, buf, n)
	OpWrite    // write(fd, buf, n)
	OpReadv    // readv(fd, iov, cnt) — iovecs checked
	OpWritev   // writev(fd, iov, cnt) — iovecs checked
	OpPread    // pread64(fd, buf, n, off)
	OpPwrite   // pwrite64(fd, buf, n, off)
	OpFstat    // fstat(fd, st)
	OpSetFlags // fcntl(F_SETFL) with Args[0] = the new flags
	OpSocket   // socket(domain, type, protocol) -> new handle
	OpBind     // bind(fd, addr, len)
	OpListen   // listen(fd, backlog)
	OpAccept   // accept4(fd, addr, lenp, flags) -> new handle; addr written by the service
	OpConnect  // connect(fd, addr, len)
	OpShutdown // shutdown(fd, how)
	OpSockName // getsockname(fd, addr, lenp)
	OpPeerName // getpeername(fd, addr, lenp)
	OpSetOpt   // setsockopt(fd, level, name, val, len)
	OpGetOpt   // getsockopt(fd, level, name, val, lenp)
	OpSendTo   // sendto(fd, buf, n, flags, addr, len)
	OpRecvFrom // recvfrom(fd, buf, n, flags, addr, lenp)
	OpSendMsg  // sendmsg(fd, msg, flags) — msghdr and iovecs checked
	OpRecvMsg  // recvmsg(fd, msg, flags) — msghdr and iovecs checked
	OpLseek    // lseek(fd, off, whence)
	OpRefill   // (asynchronous) put a new socket of kind Args[0] in the pool

	// Path calls: Handle is the directory the path is relative to (the
	// dirfd's description), or -1 for the working directory. Paths are
	// NUL-terminated and checked.
	OpOpenAt     // openat(dirfd, path, flags, mode) -> new handle
	OpStatAt     // newfstatat(dirfd, path, st, flags)
	OpReadlinkAt // readlinkat(dirfd, path, buf, size)
	OpMkdirAt    // mkdirat(dirfd, path, mode)
	OpUnlinkAt   // unlinkat(dirfd, path, flags)
	OpRenameAt   // renameat2(olddirfd, old, Args[2] = the new dir's handle or -1, new, flags)
	OpLinkAt     // linkat(olddirfd, old, Args[2] = the new dir's handle or -1, new, flags)
	OpSymlinkAt  // symlinkat(target, Args[1] = dir handle (unused: Handle), path)
	OpAccessAt   // faccessat2(dirfd, path, mode, flags)
	OpChmodAt    // fchmodat(dirfd, path, mode, flags)
	OpUtimensAt  // utimensat(dirfd, path, times, flags)
	OpStatfsAt   // statfs(dirfd, path, buf) (path "" with AT_EMPTY_PATH semantics for fstatfs)
	OpTruncateAt // truncate(path, size) / ftruncate(fd, size) with path 0
	OpChdir      // chdir(path) / fchdir(fd) with path 0
	OpGetcwd     // getcwd(buf, size)
	OpGetdents   // getdents64(fd, buf, size)
	OpFsync      // fsync(fd) (Args[1] = 1 for fdatasync)
	OpFlock      // flock(fd, how)
	OpSync       // sync() (Handle -1), or syncfs(fd)

	// Memory calls about file mappings (see kernel/services/mmap.go).
	OpMmap   // mmap(addr, len, prot, flags, fd, off) of a regular file (Handle = the file)
	OpMunmap // munmap(addr, len) while shared file mappings exist (Handle -1)
	OpMsync  // msync(addr, len, flags) while shared file mappings exist (Handle -1)
	OpCount
)

// Readiness bits (Linux's EPOLL* values).
const (
	PollIn    = 0x001
	PollOut   = 0x004
	PollErr   = 0x008
	PollHup   = 0x010
	PollRdHup = 0x2000
)

// MaxHandles bounds the service-side descriptions (sockets, files).
const MaxHandles = 4096

// Device is a device the kernel found at boot.
type Device struct {
	Kind uint32 // DevVirtioMMIO, ...
	ID   uint32 // the virtio device ID (1 net, 2 block, 4 rng, 9 9P)
	Phys uint64 // register window
	Size uint64
	GSI  uint32 // interrupt line
	_    uint32
}

// Device kinds.
const (
	DevVirtioMMIO = 1
)

func call(nr uintptr, a ...uintptr) (uintptr, syscall.Errno) {
	var args [6]uintptr
	copy(args[:], a)
	r, _, e := syscall.Syscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
	return r, e
}

// Wait blocks until a request is queued and fills req.
func Wait(req *Request) error {
	_, e := call(SysWait, uintptr(unsafe.Pointer(req)))
	if e != 0 {
		return e
	}
	return nil
}

// Done completes request slot with result (>= 0, or -errno).
// Asynchronous requests (Slot < 0) need no answer.
func Done(slot int32, result int64) {
	if slot >= 0 {
		call(SysDone, uintptr(slot), uintptr(result), 0)
	}
}

// DoneReady is Done for an operation on a pollable description that also
// reports the description's readiness after it (epoll bits), so the kernel
// knows at once that a read drained a socket, without waiting for the
// notifier's report (see kernel/linux's wouldBlock). The kernel keeps a
// newer SysReady report for the handle if one arrived during the
// operation.
func DoneReady(slot int32, result int64, readiness uint32) {
	if slot >= 0 {
		call(SysDone, uintptr(slot), uintptr(result), uintptr(readiness)|ReadinessValid)
	}
}

// ReadinessValid marks DoneReady's third argument as a readiness report.
const ReadinessValid = 1 << 31

// Serve tells the kernel the server is starting, before its goroutine
// first runs: from then on file and socket calls are queued for it rather
// than answered "no such file" (as during the Go runtime's own start,
// before any goroutine can run).
func Serve() {
	call(SysServe)
}

// PCIConfigRead reads the 32-bit configuration register at off of the
// function at bus/dev/fn.
func PCIConfigRead(bus, dev, fn uint8, off uint16) uint32 {
	v, e := call(SysPCIConfig, 0, pciBDF(bus, dev, fn), uintptr(off))
	if e != 0 {
		return 0xFFFFFFFF
	}
	return uint32(v)
}

// PCIConfigWrite writes the 32-bit configuration register at off.
func PCIConfigWrite(bus, dev, fn uint8, off uint16, v uint32) {
	call(SysPCIConfig, 1, pciBDF(bus, dev, fn), uintptr(off), uintptr(v))
}

func pciBDF(bus, dev, fn uint8) uintptr { return uintptr(bus)<<8 | uintptr(dev&31)<<3 | uintptr(fn&7) }

// MSIAlloc returns a new MSI vector: the GSI to wait on with IRQWait, and
// the LAPIC ID and vector that the device's message must carry.
func MSIAlloc() (gsi uint32, apicID uint8, vector uint8, err error) {
	r, e := call(SysMSIAlloc)
	if e != 0 {
		return 0, 0, 0, e
	}
	return uint32(r & 0xFF), uint8(r >> 8), uint8(r >> 16), nil
}

// AddEntropy mixes b (at most 4096 bytes, from a hardware source) into the
// kernel's random number generator.
func AddEntropy(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, e := call(SysEntropy, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b))); e != 0 {
		return e
	}
	return nil
}

// FileMaps operations. The kernel forwards munmap and msync of the ranges
// added here (shared file mappings) to the service.
const (
	FileMapAdd    = 1 // start forwarding for [addr, addr+len)
	FileMapRemove = 2 // stop (the exact range added before)
	FileMapUnmap  = 3 // munmap without forwarding
)

// FileMaps performs a FileMap* operation on [addr, addr+length).
func FileMaps(op int, addr, length uintptr) error {
	if _, e := call(SysFileMaps, uintptr(op), addr, length); e != 0 {
		return e
	}
	return nil
}

// PoolPut offers a fresh socket (its handle) for socket(2) of kind k, or
// a pipe for pipe2(2) (kind PoolPipe, entry PipeEntry(read, write)).
func PoolPut(k int, entry int32) error {
	if _, e := call(SysPoolPut, uintptr(k), uintptr(entry)); e != 0 {
		return e
	}
	return nil
}

// SetAddr records a socket's local (which = 0) or peer (1) address; an
// empty sa means none (not connected).
func SetAddr(handle int32, which int, sa []byte) {
	var p uintptr
	if len(sa) > 0 {
		p = uintptr(unsafe.Pointer(&sa[0]))
	}
	call(SysSetAddr, uintptr(handle), uintptr(which), p, uintptr(len(sa)))
}

// Ready tells the kernel handle's readiness is now mask.
func Ready(handle int32, mask uint32) {
	call(SysReady, uintptr(handle), uintptr(mask))
}

// DMAAlloc returns size bytes of zeroed, physically contiguous memory and
// its physical address.
func DMAAlloc(size int) ([]byte, uint64, error) {
	var phys uint64
	va, e := call(SysDMAAlloc, uintptr(size), uintptr(unsafe.Pointer(&phys)))
	if e != 0 {
		return nil, 0, e
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(va)), size), phys, nil
}

// MapMMIO maps a device's register window and returns its address.
func MapMMIO(phys, size uint64) (uintptr, error) {
	va, e := call(SysMapMMIO, uintptr(phys), uintptr(size))
	if e != 0 {
		return 0, e
	}
	return va, nil
}

// IRQWait unmasks interrupt line gsi and waits until its count exceeds
// seen; it returns the new count.
func IRQWait(gsi uint32, seen uint64) (uint64, error) {
	n, e := call(SysIRQWait, uintptr(gsi), uintptr(seen))
	if e != 0 {
		return 0, e
	}
	return uint64(n), nil
}

// Devices returns the devices the kernel found.
func Devices() []Device {
	var buf [32]Device
	n, e := call(SysDevices, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e != 0 {
		return nil
	}
	return append([]Device(nil), buf[:n]...)
}

// KernelOptions returns the kernel command line before "--" (percent-encoded words).
func KernelOptions() string {
	buf := make([]byte, 4096)
	n, e := call(SysKernelOpt, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if e != 0 {
		return ""
	}
	return string(buf[:n])
}
