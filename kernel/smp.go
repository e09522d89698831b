package kernel

import (
	"sync/atomic"

	"github.com/stardust-go/stardust/kernel/arch/amd64"
	"github.com/stardust-go/stardust/kernel/clock"
	"github.com/stardust-go/stardust/kernel/klog"
	"github.com/stardust-go/stardust/kernel/mem"
	"github.com/stardust-go/stardust/kernel/sched"
)

// Bringing up the application processors (APs) the MADT lists: one at a
// time, each through the real-mode trampoline (kernel/arch/amd64/smp.go)
// into apMain on its own stack, where it sets itself up and becomes one
// more scheduler loop.

var apAlive int32 // index of the last AP that finished its set-up

//go:nosplit
func startAPs() {
	if madt.NLAPIC <= 1 {
		return
	}
	// The trampoline runs with paging on at its physical address for a few
	// instructions: map its page there (supervisor-only) while APs start.
	if !mem.MapPage(amd64.TrampolineAddr, amd64.TrampolineAddr, mem.PTEWrite) {
		return
	}
	va := mem.P2V(amd64.TrampolineAddr)
	amd64.PrepareTrampoline(va, uint32(mem.Root()))
	tls := uintptr(amd64.Rdmsr(amd64.MsrFSBase)) // the boot TLS block, shared
	bsp := amd64.APICID()
	index := 1
	for i := 0; i < madt.NLAPIC && index < sched.MaxCPUs; i++ {
		id := uint32(madt.LAPICs[i])
		if id == bsp {
			continue
		}
		stack := sched.SchedulerStack(index)
		if stack == 0 {
			break
		}
		amd64.SetAPParams(va, stack, tls, index)
		amd64.StartAP(id, spinDelay)
		t0 := clock.Nanotime()
		for atomic.LoadInt32(&apAlive) != int32(index) && clock.Nanotime()-t0 < 1_000_000_000 {
			amd64.Pause()
		}
		if atomic.LoadInt32(&apAlive) != int32(index) {
			klog.Str(klog.Prefix)
			klog.Str("CPU with APIC ID ")
			klog.Dec(int64(id))
			klog.Str(" did not start\n")
			continue
		}
		index++
	}
	mem.UnmapPage(amd64.TrampolineAddr)
}

//go:nosplit
func spinDelay(ns int64) {
	t0 := clock.Nanotime()
	for clock.Nanotime()-t0 < ns {
		amd64.Pause()
	}
}

// apMain is an application processor's first Go code (called by the
// architecture layer, linked by name), on its scheduler stack.
//
//go:nosplit
func apMain(index int) {
	amd64.Lock()
	if !sched.InitAP(index) {
		amd64.Unlock()
		return
	}
	atomic.StoreInt32(&apAlive, int32(index))
	sched.Start(nil)
}
