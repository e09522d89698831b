package amd64

import (
	"math/bits"
	"testing"
)

// VDSONanotime's split multiplication must equal (d*Mult)>>ClockShift
// computed in 128 bits, for any elapsed tick count up to years of uptime,
// and report "not ready" before calibration.
func TestVDSONanotime(t *testing.T) {
	saved := VDSOClock
	defer func() { VDSOClock = saved }()
	VDSOClock.Ready = 0
	if _, ok := VDSONanotime(); ok {
		t.Fatal("ready before calibration")
	}
	// 2.1 GHz: 0.476 ns per tick.
	VDSOClock.Mult = (1e9 << ClockShift) / 2_100_000_000
	VDSOClock.Ready = 1
	now := Rdtsc()
	for _, back := range []uint64{0, 1, 1 << 20, 1<<20 + 12345, 2_100_000_000 * 3600, 2_100_000_000 * 86400 * 365 * 3} {
		if back > now {
			continue
		}
		VDSOClock.TSCBase = now - back
		got, ok := VDSONanotime()
		hi, lo := bits.Mul64(back, VDSOClock.Mult)
		want := int64(hi<<(64-ClockShift) | lo>>ClockShift)
		// The TSC moved on between the two reads: allow a millisecond.
		if !ok || got < want || got-want > 1_000_000 {
			t.Errorf("%d ticks: %d ns, want %d", back, got, want)
		}
	}
}
