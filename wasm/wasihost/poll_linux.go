package wasihost

import (
	"context"
	"encoding/binary"
	"math"
	"time"

	"github.com/tetratelabs/wazero/api"
	"golang.org/x/sys/unix"
)

// WASI poll_oneoff layout: a subscription is 48 bytes (userdata u64, tag u8,
// then a union at +16), an event 32 bytes (userdata u64, error u16 at +8,
// type u8 at +10, fd_readwrite.nbytes u64 at +16, flags u16 at +24).
const (
	subSize   = 48
	eventSize = 32

	tagClock   = 0
	tagFdRead  = 1
	tagFdWrite = 2

	clockRealtime  = 0
	abstime        = 1
	eventFdHangup  = 1
	noDeadline     = math.MaxInt64
	maxPollTimeout = time.Hour // keeps the ppoll timespec in range
)

// pollOneoff replaces wazero's poll_oneoff. wazero reports every
// non-blocking descriptor ready at once, so an idle Go guest (which polls
// its listener) spins a host core, and with a clock subscription it sleeps
// the whole timeout even when a socket becomes ready. This one puts host
// sockets and the earliest clock deadline into a single ppoll(2), so the
// guest sleeps until either happens. Descriptors that are not host sockets
// (files, stdio) are reported ready at once, as files always are.
func (h *Host) pollOneoff(_ context.Context, mod api.Module, stack []uint64) {
	in, out, nsubs, neventsPtr := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	if nsubs == 0 {
		stack[0] = errnoInval
		return
	}
	mem := mod.Memory()
	inBuf, ok1 := mem.Read(in, nsubs*subSize)
	outBuf, ok2 := mem.Read(out, nsubs*eventSize)
	if !ok1 || !ok2 {
		stack[0] = errnoFault
		return
	}

	type sub struct {
		userdata uint64
		tag      byte
		deadline int64 // clocks: on h.nanotime's scale
		pollIdx  int   // sockets: index into pfds; -1 = always ready
		errno    uint16
	}
	subs := make([]sub, nsubs)
	pfds := make([]unix.PollFd, 0, nsubs+1)
	now := h.nanotime()
	deadline := int64(noDeadline)
	immediate := false
	for i := range subs {
		b := inBuf[i*subSize : (i+1)*subSize]
		s := sub{userdata: binary.LittleEndian.Uint64(b), tag: b[8], pollIdx: -1}
		switch s.tag {
		case tagClock:
			id := binary.LittleEndian.Uint32(b[16:])
			timeout := int64(binary.LittleEndian.Uint64(b[24:]))
			flags := binary.LittleEndian.Uint16(b[40:])
			switch {
			case flags&abstime == 0:
				s.deadline = satAdd(now, timeout)
			case id == clockRealtime:
				s.deadline = satAdd(now, timeout-time.Now().UnixNano())
			default:
				s.deadline = timeout
			}
			deadline = min(deadline, s.deadline)
		case tagFdRead, tagFdWrite:
			fd := binary.LittleEndian.Uint32(b[16:])
			if sock := h.socks.get(fd); sock != nil {
				ev := int16(unix.POLLIN)
				if s.tag == tagFdWrite {
					ev = unix.POLLOUT
				}
				s.pollIdx = len(pfds)
				pfds = append(pfds, unix.PollFd{Fd: int32(sock.hostFD), Events: ev})
			} else {
				immediate = true
			}
		default:
			s.errno = errnoInval
			immediate = true
		}
		subs[i] = s
	}
	wakeIdx := len(pfds)
	pfds = append(pfds, unix.PollFd{Fd: int32(h.socks.wake[0]), Events: unix.POLLIN})

	for {
		var ts *unix.Timespec
		switch {
		case immediate:
			ts = &unix.Timespec{}
		case deadline != noDeadline:
			d := time.Duration(max(0, deadline-h.nanotime()))
			t := unix.NsecToTimespec(int64(min(d, maxPollTimeout)))
			ts = &t
		}
		_, err := unix.Ppoll(pfds, ts, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			stack[0] = toErrno(err)
			return
		}
		break
	}

	// Write an event for every descriptor that is ready; clock events only
	// when no descriptor is, as Go's runtime only needs to learn that it woke.
	nevents := uint32(0)
	emit := func(s sub, flags uint16) {
		e := outBuf[nevents*eventSize : (nevents+1)*eventSize]
		clear(e)
		binary.LittleEndian.PutUint64(e, s.userdata)
		binary.LittleEndian.PutUint16(e[8:], s.errno)
		e[10] = s.tag
		binary.LittleEndian.PutUint16(e[24:], flags)
		nevents++
	}
	for _, s := range subs {
		if s.tag == tagClock {
			continue
		}
		if s.pollIdx < 0 {
			emit(s, 0)
			continue
		}
		re := pfds[s.pollIdx].Revents
		if re == 0 {
			continue
		}
		var flags uint16
		if re&(unix.POLLHUP|unix.POLLERR) != 0 {
			flags = eventFdHangup
		}
		if re&unix.POLLNVAL != 0 {
			s.errno = errnoBadf
		}
		emit(s, flags)
	}
	if nevents == 0 {
		now = h.nanotime()
		for _, s := range subs {
			// A ppoll timeout rounds down; treat a clock within a
			// microsecond of its deadline as expired rather than looping.
			if s.tag == tagClock && s.deadline <= now+int64(time.Microsecond) {
				emit(s, 0)
			}
		}
	}
	if traceHost {
		traceLog("poll_oneoff subs=%d pfds=%v immediate=%v deadline=%d now=%d -> nevents=%d", nsubs, pfds, immediate, deadline, h.nanotime(), nevents)
	}
	if nevents == 0 && pfds[wakeIdx].Revents != 0 {
		// The run is ending; EINTR makes the runtime re-check and lets
		// wazero's context-done check close the module.
		stack[0] = errnoIntr
		return
	}
	if !mem.WriteUint32Le(neventsPtr, nevents) {
		stack[0] = errnoFault
		return
	}
	stack[0] = errnoSuccess
}

// satAdd adds without overflowing past noDeadline.
func satAdd(a, b int64) int64 {
	if b > 0 && a > noDeadline-b {
		return noDeadline
	}
	return a + b
}
