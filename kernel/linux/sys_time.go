package linux

import (
	"syscall"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/sched"
)

// Clocks and sleeping. Without a vDSO, Go's nanotime and time.Now come
// here as clock_gettime calls.

const (
	clockRealtime        = 0
	clockMonotonic       = 1
	clockProcessCputime  = 2
	clockThreadCputime   = 3
	clockMonotonicRaw    = 4
	clockRealtimeCoarse  = 5
	clockMonotonicCoarse = 6
	clockBoottime        = 7
	timerAbstime         = 1
)

//go:nosplit
func readClock(id uint64) (int64, bool) {
	switch id {
	case clockRealtime, clockRealtimeCoarse:
		return clock.Walltime(), true
	case clockMonotonic, clockMonotonicRaw, clockMonotonicCoarse, clockBoottime:
		return clock.Nanotime(), true
	case clockProcessCputime, clockThreadCputime:
		// Not accounted per thread yet: time since boot is an upper bound.
		return clock.Nanotime(), true
	}
	return 0, false
}

//go:nosplit
func sysClockGettime(f *amd64.Frame) uintptr {
	ns, ok := readClock(f.RDI)
	if !ok {
		return errno(syscall.EINVAL)
	}
	if !writeTimespec(uintptr(f.RSI), ns) {
		return errno(syscall.EFAULT)
	}
	return 0
}

//go:nosplit
func sysClockGetres(f *amd64.Frame) uintptr {
	if _, ok := readClock(f.RDI); !ok {
		return errno(syscall.EINVAL)
	}
	if f.RSI != 0 && !writeTimespec(uintptr(f.RSI), 1) {
		return errno(syscall.EFAULT)
	}
	return 0
}

//go:nosplit
func sysClockSettime(f *amd64.Frame) uintptr {
	if f.RDI != clockRealtime {
		return errno(syscall.EINVAL)
	}
	ns, ok := readTimespec(uintptr(f.RSI))
	if !ok {
		return errno(syscall.EINVAL)
	}
	clock.SetWalltime(ns)
	return 0
}

// gettimeofday(tv, tz)
//
//go:nosplit
func sysGettimeofday(f *amd64.Frame) uintptr {
	if tv := uintptr(f.RDI); tv != 0 {
		ns := clock.Walltime()
		if !writeU64(tv, uint64(ns/1e9)) || !writeU64(tv+8, uint64(ns%1e9/1000)) {
			return errno(syscall.EFAULT)
		}
	}
	return 0
}

//go:nosplit
func sysTime(f *amd64.Frame) uintptr {
	s := clock.Walltime() / 1e9
	if t := uintptr(f.RDI); t != 0 && !writeU64(t, uint64(s)) {
		return errno(syscall.EFAULT)
	}
	return uintptr(s)
}

// sleepUntil blocks until deadline (monotonic ns) and writes the remaining
// time to rem if a signal interrupts it.
//
//go:nosplit
func sleepUntil(deadline int64, rem uintptr) uintptr {
	if deadline <= clock.Nanotime() {
		return 0
	}
	if sched.Block(0, deadline, true) == sched.WokenSignal {
		if rem != 0 {
			left := deadline - clock.Nanotime()
			if left < 0 {
				left = 0
			}
			writeTimespec(rem, left)
		}
		return errno(syscall.EINTR)
	}
	return 0
}

// nanosleep(req, rem)
//
//go:nosplit
func sysNanosleep(f *amd64.Frame) uintptr {
	ns, ok := readTimespec(uintptr(f.RDI))
	if !ok {
		return errno(syscall.EINVAL)
	}
	return sleepUntil(clock.Nanotime()+ns, uintptr(f.RSI))
}

// clock_nanosleep(clock, flags, req, rem)
//
//go:nosplit
func sysClockNanosleep(f *amd64.Frame) uintptr {
	id, flags := f.RDI, f.RSI
	ns, ok := readTimespec(uintptr(f.RDX))
	if !ok {
		return errno(syscall.EINVAL)
	}
	now, ok := readClock(id)
	if !ok {
		return errno(syscall.EINVAL)
	}
	if flags&timerAbstime != 0 {
		ns -= now
	}
	return sleepUntil(clock.Nanotime()+ns, uintptr(f.R10))
}
