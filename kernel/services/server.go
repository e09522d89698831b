// Package services answers forwarded system calls: the service-context half
// of the bridge (see package bridge and kernel/linux/bridge.go). A goroutine
// takes each request the kernel queues and runs it against the open file
// descriptions it keeps by handle: sockets (from the network package, when
// the program uses one) and, later, files.
//
// Execution context: service context. Ordinary goroutines; they may
// allocate and block. A request's pointers were checked by the kernel, and
// there is one address space, so the caller's buffers are used in place.
package services

import (
	"errors"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/pipe"
)

// SocketFactory creates sockets; the network package sets it in its init.
var SocketFactory func(domain, typ, protocol int) (fdesc.Description, error)

// Sockets are used through the methods of the network package's SocketOps,
// declared again here so this package does not depend on the network stack
// (images that do not use the network do not link it).
type socket interface {
	Bind(addr []byte) error
	Listen(backlog int) error
	Connect(addr []byte) error
	Shutdown(how int) error
	GetSockName() ([]byte, error)
	GetPeerName() ([]byte, error)
	SetSockOpt(level, name int, val []byte) error
	GetSockOpt(level, name int) ([]byte, error)
	SendTo(p []byte, flags int, to []byte) (int, error)
	RecvFrom(p []byte, flags int) (int, []byte, error)
	SendMsg(iov [][]byte, flags int, to []byte) (int, error)
	RecvMsg(iov [][]byte, flags int) (int, []byte, int, error)
}

// accepter is the socket's Accept, whose result type is the network
// package's own interface; it is reached by reflection-free adaptation in
// the network package (see AcceptFunc).
var AcceptFunc func(d fdesc.Description, flags int) (fdesc.Description, []byte, error)

type entry struct {
	d        fdesc.Description
	cancel   func()
	nonblock bool // the O_NONBLOCK state last given to d
}

var (
	mu      sync.Mutex
	handles [bridge.MaxHandles]entry
	next    int32
	started sync.Once
)

// Start starts the server (once).
func Start() {
	started.Do(func() {
		bridge.Serve()
		// pipe2 cannot wait for the service (see package bridge): the
		// first pipes must exist before main runs.
		for range bridge.PipePool {
			refillPipe()
		}
		go notifier()
		go serve()
	})
}

func serve() {
	req := new(bridge.Request)
	for {
		if err := bridge.Wait(req); err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			println("stardust: bridge wait failed:", err.Error())
			return
		}
		if quick(req) {
			// Answered here: a goroutine per call cost its creation, its
			// stack growth and a trip through the scheduler, a fifth of a
			// busy server's time under TCG.
			handle(req)
			continue
		}
		go handle(req)
		req = new(bridge.Request)
		// Let the handler run now. This goroutine's next Wait is a system
		// call that blocks while holding the P, and the runtime takes a P
		// back from a thread in a system call only when sysmon next looks
		// (20 µs to 10 ms later): without the yield, every forwarded call
		// waited for sysmon (about 200 µs each under TCG).
		runtime.Gosched()
	}
}

// quick reports whether r is answered without blocking, so the serve loop
// may run it itself: an operation on a non-blocking socket (which is how
// Go's net package uses every socket). Anything that may wait — blocking
// sockets, files on disks, pipes — gets a goroutine of its own, so one
// slow call never holds up the others.
func quick(r *bridge.Request) bool {
	if r.Flags&syscall.O_NONBLOCK == 0 {
		return false
	}
	switch r.Op {
	case bridge.OpRead, bridge.OpWrite, bridge.OpReadv, bridge.OpWritev,
		bridge.OpSendTo, bridge.OpRecvFrom, bridge.OpSendMsg, bridge.OpRecvMsg,
		bridge.OpAccept, bridge.OpConnect, bridge.OpBind, bridge.OpListen, bridge.OpShutdown,
		bridge.OpSockName, bridge.OpPeerName, bridge.OpSetOpt, bridge.OpGetOpt:
		_, ok := get(r.Handle).(socket)
		return ok
	}
	return false
}

// add stores d under a new handle and starts reporting its readiness.
func add(d fdesc.Description) (int32, bool) {
	mu.Lock()
	h := int32(-1)
	for i := int32(0); i < bridge.MaxHandles; i++ {
		c := (next + i) % bridge.MaxHandles
		if handles[c].d == nil {
			h = c
			break
		}
	}
	if h < 0 {
		mu.Unlock()
		return -1, false
	}
	next = h + 1
	handles[h] = entry{d: d}
	mu.Unlock()
	p, ok := d.(fdesc.Pollable)
	if ok {
		cancel := p.Watch(func() { markDirty(h) })
		mu.Lock()
		handles[h].cancel = cancel
		mu.Unlock()
		markDirty(h)
	}
	return h, ok
}

func get(h int32) fdesc.Description {
	if h < 0 || h >= bridge.MaxHandles {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	return handles[h].d
}

func release(h int32) fdesc.Description {
	mu.Lock()
	e := handles[h]
	handles[h] = entry{}
	mu.Unlock()
	if e.cancel != nil {
		e.cancel()
	}
	dirtyMu.Lock()
	isDirty[h] = false // a queued entry for h is skipped
	dirtyMu.Unlock()
	bridge.Ready(h, 0)
	bridge.SetAddr(h, 0, nil)
	bridge.SetAddr(h, 1, nil)
	return e.d
}

// Readiness changes are reported by one notifier goroutine. A Watch
// callback only marks the handle: it may run inside the network stack with
// its locks held, where asking for the readiness (or making a system call)
// could deadlock or stall the stack.
var (
	dirtyMu sync.Mutex
	isDirty [bridge.MaxHandles]bool
	dirty   []int32 // the handles with isDirty set, in the order they changed
	kick    = make(chan struct{}, 1)
)

func markDirty(h int32) {
	dirtyMu.Lock()
	if !isDirty[h] {
		isDirty[h] = true
		dirty = append(dirty, h)
	}
	dirtyMu.Unlock()
	select {
	case kick <- struct{}{}:
	default:
	}
}

func notifier() {
	var batch []int32
	for range kick {
		dirtyMu.Lock()
		batch = batch[:0]
		for _, h := range dirty {
			if isDirty[h] {
				isDirty[h] = false
				batch = append(batch, h)
			}
		}
		dirty = dirty[:0]
		dirtyMu.Unlock()
		for _, h := range batch {
			if p, ok := get(h).(fdesc.Pollable); ok {
				bridge.Ready(h, p.Readiness())
			}
		}
	}
}

// applyFlags gives d the O_NONBLOCK state of the file descriptor the
// request came through: it travels with every request, because sockets
// handed out from the pool learn their flags only when first used.
func applyFlags(h int32, d fdesc.Description, flags int32) {
	nb := flags&syscall.O_NONBLOCK != 0
	mu.Lock()
	e := &handles[h]
	changed := e.d == d && e.nonblock != nb
	if changed {
		e.nonblock = nb
	}
	mu.Unlock()
	if changed {
		d.SetFlags(d.Flags()&^syscall.O_NONBLOCK | int(flags&syscall.O_NONBLOCK))
	}
}

// pushAddrs tells the kernel a socket's current addresses (getsockname and
// getpeername are answered from them).
func pushAddrs(h int32, d fdesc.Description) {
	s, ok := d.(socket)
	if !ok {
		return
	}
	local, _ := s.GetSockName()
	bridge.SetAddr(h, 0, local)
	peer, err := s.GetPeerName()
	if err != nil {
		peer = nil
	}
	bridge.SetAddr(h, 1, peer)
}

// refill creates a socket or pipe of pool kind k and offers it to the
// kernel.
func refill(k int) {
	if k == bridge.PoolPipe {
		refillPipe()
		return
	}
	if SocketFactory == nil {
		return
	}
	domain, typ, proto := bridge.PoolSocket(k)
	d, err := SocketFactory(domain, typ, proto)
	if err != nil {
		return
	}
	h, _ := add(d)
	if h < 0 {
		d.Close()
		return
	}
	pushAddrs(h, d)
	if bridge.PoolPut(k, h) != nil {
		release(h)
		d.Close()
	}
}

// refillPipe creates a pipe and offers both ends to the kernel.
func refillPipe() {
	rd, wr, err := pipe.New(0)
	if err != nil {
		return
	}
	rh, _ := add(rd)
	wh, _ := add(wr)
	if rh < 0 || wh < 0 || bridge.PoolPut(bridge.PoolPipe, bridge.PipeEntry(rh, wh)) != nil {
		for _, h := range []int32{rh, wh} {
			if h >= 0 {
				release(h)
			}
		}
		rd.Close()
		wr.Close()
	}
}

// FillPools fills the kernel's socket pools; the network package calls it
// once its stack is up.
func FillPools() {
	for k := 0; k < bridge.PoolPipe; k++ { // the socket kinds come first
		for i := 0; i < bridge.PoolSize; i++ {
			refill(k)
		}
	}
}

// pollableBit marks a handle result whose description epoll can watch
// (kernel/linux/bridge.go).
const pollableBit = 1 << 24

// result converts a Go result to the raw system-call result.
func result(n int, err error) int64 {
	if err != nil {
		if e, ok := errno(err); ok {
			return -int64(e)
		}
		return -int64(syscall.EIO)
	}
	return int64(n)
}

// errno finds the syscall.Errno in err's chain, as errors.As(err, &e)
// would, without the reflection errors.As brings into every image (8 KB
// of text); no kernel error type has an As method.
func errno(err error) (syscall.Errno, bool) {
	for err != nil {
		switch u := err.(type) {
		case syscall.Errno:
			return u, true
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, err := range u.Unwrap() {
				if e, ok := errno(err); ok {
					return e, true
				}
			}
			return 0, false
		default:
			return 0, false
		}
	}
	return 0, false
}

func newHandle(d fdesc.Description, err error) int64 {
	if err != nil {
		return result(0, err)
	}
	h, pollable := add(d)
	if h < 0 {
		d.Close()
		return -int64(syscall.ENFILE)
	}
	r := int64(h)
	if pollable {
		r |= pollableBit
	}
	return r
}

// user returns the caller's buffer [addr, addr+n) (checked by the kernel).
func user(addr, n uint64) []byte {
	if n == 0 || addr == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(addr))), n)
}

// putAddr writes a socket address to (addr, *lenp) as Linux does: the
// address truncated to the buffer, *lenp set to its full length.
func putAddr(sa []byte, addr, lenp uint64) {
	if addr == 0 || lenp == 0 {
		return
	}
	l := (*uint32)(unsafe.Pointer(uintptr(lenp)))
	copy(user(addr, uint64(*l)), sa)
	*l = uint32(len(sa))
}

func handle(r *bridge.Request) {
	res := do(r)
	// Readiness after the operation: a read that drained the socket or an
	// accept that emptied the queue lowers it, and the description does
	// not necessarily call its watchers for that. For the data calls the
	// answer carries it (the program's next read, which Go makes at once,
	// then needs no forwarding to learn EAGAIN); for the others the
	// notifier reports it, in order with its other reports.
	if r.Op != bridge.OpClose && r.Handle >= 0 {
		if dataOp(r.Op) {
			if p, ok := get(r.Handle).(fdesc.Pollable); ok {
				doneReadyCall(r.Slot, res, p.Readiness())
				return
			}
		}
		markDirty(r.Handle)
	}
	doneCall(r.Slot, res)
}

// The answers' system calls (variables for the tests).
var (
	doneCall      = bridge.Done
	doneReadyCall = bridge.DoneReady
)

// dataOp reports whether op only moves data (or takes a connection), so
// that the readiness after it is all it changes.
func dataOp(op int32) bool {
	switch op {
	case bridge.OpRead, bridge.OpWrite, bridge.OpReadv, bridge.OpWritev,
		bridge.OpSendTo, bridge.OpRecvFrom, bridge.OpSendMsg, bridge.OpRecvMsg, bridge.OpAccept:
		return true
	}
	return false
}

func do(r *bridge.Request) int64 {
	a := r.Args
	switch r.Op {
	case bridge.OpSocket:
		if SocketFactory == nil {
			return -int64(syscall.EAFNOSUPPORT)
		}
		return newHandle(SocketFactory(int(a[0]), int(a[1]), int(a[2])))
	case bridge.OpRefill:
		refill(int(a[0]))
		return 0
	case bridge.OpSync:
		if r.Handle < 0 {
			if v := currentFS(); v != nil {
				v.SyncAll()
			}
			return 0
		}
	case bridge.OpMunmap:
		return munmapFiles(uintptr(a[0]), uintptr(a[1]))
	case bridge.OpMsync:
		return msyncFiles(uintptr(a[0]), uintptr(a[1]), a[2])
	}
	if res, ok := doPath(r); ok {
		return res
	}
	d := get(r.Handle)
	if d == nil {
		return -int64(syscall.EBADF)
	}
	if r.Op != bridge.OpClose && r.Op != bridge.OpSetFlags {
		applyFlags(r.Handle, d, r.Flags)
	}
	switch r.Op {
	case bridge.OpClose:
		release(r.Handle)
		if closeMapped(d) {
			return 0 // closed when its last shared mapping goes
		}
		return result(0, d.Close())
	case bridge.OpRead:
		beforeRead(d)
		return result(d.Read(user(a[1], a[2])))
	case bridge.OpWrite:
		buf := user(a[1], a[2])
		n, err := d.Write(buf)
		if n > 0 && nMaps.Load() > 0 {
			if p, ok := d.(fdesc.Positional); ok {
				if end, err := p.Seek(0, 1); err == nil {
					fileWritten(d, buf[:n], end-int64(n))
				}
			}
		}
		return result(n, err)
	case bridge.OpMmap:
		return mmapFile(d, a)
	case bridge.OpPread, bridge.OpPwrite, bridge.OpLseek:
		p, ok := d.(fdesc.Positional)
		if !ok {
			return -int64(syscall.ESPIPE)
		}
		switch r.Op {
		case bridge.OpPread:
			beforeRead(d)
			return result(p.ReadAt(user(a[1], a[2]), int64(a[3])))
		case bridge.OpPwrite:
			buf := user(a[1], a[2])
			n, err := p.WriteAt(buf, int64(a[3]))
			if n > 0 {
				fileWritten(d, buf[:n], int64(a[3]))
			}
			return result(n, err)
		}
		off, err := p.Seek(int64(a[1]), int(a[2]))
		return result(int(off), err)
	case bridge.OpFstat:
		return result(0, d.Stat((*syscall.Stat_t)(unsafe.Pointer(uintptr(a[1])))))
	case bridge.OpSetFlags:
		applyFlags(r.Handle, d, int32(a[0]))
		return 0
	}
	if res, ok := doFile(r, d); ok {
		return res
	}
	return doSocket(r, d)
}

func doSocket(r *bridge.Request, d fdesc.Description) int64 {
	a := r.Args
	s, ok := d.(socket)
	if !ok {
		return -int64(syscall.ENOTSOCK)
	}
	switch r.Op {
	case bridge.OpBind:
		err := s.Bind(user(a[1], a[2]))
		pushAddrs(r.Handle, d)
		return result(0, err)
	case bridge.OpListen:
		return result(0, s.Listen(int(int32(a[1]))))
	case bridge.OpConnect:
		err := s.Connect(user(a[1], a[2]))
		pushAddrs(r.Handle, d)
		return result(0, err)
	case bridge.OpShutdown:
		return result(0, s.Shutdown(int(a[1])))
	case bridge.OpAccept:
		if AcceptFunc == nil {
			return -int64(syscall.EOPNOTSUPP)
		}
		nd, sa, err := AcceptFunc(d, int(a[3]))
		if err != nil {
			return result(0, err)
		}
		putAddr(sa, a[1], a[2])
		h := newHandle(nd, nil)
		if h >= 0 {
			hh := int32(h &^ pollableBit)
			mu.Lock()
			handles[hh].nonblock = a[3]&syscall.SOCK_NONBLOCK != 0
			mu.Unlock()
			pushAddrs(hh, nd)
		}
		return h
	case bridge.OpSockName, bridge.OpPeerName:
		var sa []byte
		var err error
		if r.Op == bridge.OpSockName {
			sa, err = s.GetSockName()
		} else {
			sa, err = s.GetPeerName()
		}
		if err == nil {
			putAddr(sa, a[1], a[2])
		}
		return result(0, err)
	case bridge.OpSetOpt:
		return result(0, s.SetSockOpt(int(a[1]), int(a[2]), user(a[3], a[4])))
	case bridge.OpGetOpt:
		v, err := s.GetSockOpt(int(a[1]), int(a[2]))
		if err == nil {
			putAddr(v, a[3], a[4])
		}
		// Go asks for SO_ERROR when a non-blocking connect finishes, and
		// then for the addresses: refresh them now.
		pushAddrs(r.Handle, d)
		return result(0, err)
	case bridge.OpSendTo:
		return result(s.SendTo(user(a[1], a[2]), int(a[3]), user(a[4], a[5])))
	case bridge.OpRecvFrom:
		n, from, err := s.RecvFrom(user(a[1], a[2]), int(a[3]))
		if err == nil && a[4] != 0 {
			putAddr(from, a[4], a[5])
		}
		return result(n, err)
	case bridge.OpSendMsg, bridge.OpRecvMsg:
		return msg(r, s)
	}
	return -int64(syscall.ENOSYS)
}

// msghdr is struct msghdr on x86-64.
type msghdr struct {
	name       uint64
	namelen    uint32
	_          uint32
	iov        uint64
	iovlen     uint64
	control    uint64
	controllen uint64
	flags      int32
	_          int32
}

func msg(r *bridge.Request, s socket) int64 {
	m := (*msghdr)(unsafe.Pointer(uintptr(r.Args[1])))
	flags := int(r.Args[2])
	iov := make([][]byte, m.iovlen)
	for i := range iov {
		v := (*[2]uint64)(unsafe.Pointer(uintptr(m.iov) + uintptr(i)*16))
		iov[i] = user(v[0], v[1])
	}
	if r.Op == bridge.OpSendMsg {
		return result(s.SendMsg(iov, flags, user(m.name, uint64(m.namelen))))
	}
	n, from, mflags, err := s.RecvMsg(iov, flags)
	if err == nil {
		if m.name != 0 {
			l := uint32(len(from))
			copy(user(m.name, uint64(m.namelen)), from)
			m.namelen = l
		}
		m.controllen = 0
		m.flags = int32(mflags)
	}
	return result(n, err)
}
