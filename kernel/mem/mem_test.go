package mem

import (
	"testing"
	"unsafe"

	_ "github.com/stardust-go/stardust/kernel/internal/testboot"
)

// fakePhys backs "physical memory" [physStart, physStart+size) with a host
// buffer, so the allocator and page tables can be tested in ring 3.
const physStart = 0x100000

func fakePhys(t *testing.T, size uintptr) {
	t.Helper()
	buf := make([]byte, size+PageSize)
	base := (uintptr(unsafe.Pointer(&buf[0])) + PageSize - 1) &^ (PageSize - 1)
	t.Cleanup(func() { _ = buf[0] }) // keep buf alive for the test
	resetFrames()
	physToVirt = base - physStart
	flushTLB = func(uintptr) {}
	shootdown = func() {}
	root = 0
	nvmas = 0
}

func TestFrameAllocatorSkipsReservedRanges(t *testing.T) {
	fakePhys(t, 64*PageSize)
	reserved := []Range{{physStart + 4*PageSize, physStart + 6*PageSize - 100}, {physStart + 10*PageSize, physStart + 11*PageSize}}
	AddRAM(physStart, physStart+16*PageSize, reserved)
	free, total := FreeFrames()
	if free != 13 || total != 13 {
		t.Fatalf("free %d total %d, want 13 13", free, total)
	}
	seen := map[uintptr]bool{}
	for i := 0; i < 13; i++ {
		f := AllocFrame()
		if f == 0 {
			t.Fatalf("allocation %d failed", i)
		}
		if f&(PageSize-1) != 0 || f < physStart || f >= physStart+16*PageSize {
			t.Fatalf("bad frame %#x", f)
		}
		for _, r := range reserved {
			if f+PageSize > pageDown(r.Start) && f < pageUp(r.End) {
				t.Fatalf("frame %#x is reserved", f)
			}
		}
		if seen[f] {
			t.Fatalf("frame %#x handed out twice", f)
		}
		seen[f] = true
	}
	if AllocFrame() != 0 {
		t.Fatal("allocator did not report exhaustion")
	}
	// Freed frames come back (LIFO) and zeroed ones are zero.
	var any uintptr
	for f := range seen {
		any = f
		break
	}
	*(*uint64)(unsafe.Pointer(P2V(any))) = 0xdeadbeef
	FreeFrame(any)
	if f := AllocZeroFrame(); f != any || *(*uint64)(unsafe.Pointer(P2V(f))) != 0 {
		t.Fatalf("reallocated %#x (want %#x), zeroed=%v", f, any, *(*uint64)(unsafe.Pointer(P2V(f))) == 0)
	}
}

func setupSpace(t *testing.T) {
	fakePhys(t, 512*PageSize)
	AddRAM(physStart, physStart+512*PageSize, nil)
	root = AllocZeroFrame()
}

func TestPageTableMapLookupUnmap(t *testing.T) {
	setupSpace(t)
	const va = 0x0000_7F12_3456_7000
	f := AllocZeroFrame()
	if !MapPage(va, f, PTEWrite|PTEUser) {
		t.Fatal("MapPage failed")
	}
	e := Lookup(va)
	if e&PTEPresent == 0 || uintptr(e&pteAddr) != f || e&PTEUser == 0 || e&PTEWrite == 0 {
		t.Fatalf("entry %#x", e)
	}
	if Lookup(va+PageSize) != 0 || Lookup(va-PageSize) != 0 {
		t.Fatal("neighbouring pages appear mapped")
	}
	SetFlags(va, PTEUser|PTENoExec)
	if e := Lookup(va); e&PTEWrite != 0 || e&PTENoExec == 0 || uintptr(e&pteAddr) != f {
		t.Fatalf("after SetFlags: %#x", e)
	}
	if pa, ok := UnmapPage(va); !ok || pa != f {
		t.Fatalf("UnmapPage = %#x %v", pa, ok)
	}
	if Lookup(va)&PTEPresent != 0 {
		t.Fatal("still mapped")
	}
	if _, ok := UnmapPage(va); ok {
		t.Fatal("unmapped twice")
	}
}

func TestMapReservationsAndFixedCommits(t *testing.T) {
	setupSpace(t)
	// Go-style: reserve PROT_NONE, then commit the middle read-write.
	res := Map(0xc000000000, 64<<20, 0, false)
	if res != 0xc000000000 {
		t.Fatalf("hint not honoured: %#x", res)
	}
	if Map(0xc000000000, PageSize, ProtRead, false) == 0xc000000000 {
		t.Fatal("a busy hint was used again")
	}
	c := Map(res+4<<20, 4<<20, ProtRead|ProtWrite, true)
	if c != res+4<<20 {
		t.Fatalf("MAP_FIXED at %#x returned %#x", res+4<<20, c)
	}
	if got := HandleFault(res, false, false); got != FaultAccess {
		t.Fatalf("fault in PROT_NONE = %d, want FaultAccess", got)
	}
	if got := HandleFault(c+123, true, false); got != FaultHandled {
		t.Fatalf("fault in committed memory = %d", got)
	}
	if got := HandleFault(c+123, false, true); got != FaultAccess {
		t.Fatalf("execute in non-exec memory = %d", got)
	}
	if got := HandleFault(0x1000_0000, false, false); got != FaultNoMap {
		t.Fatalf("fault outside mappings = %d", got)
	}
	// The page is zero and now mapped; DONTNEED frees it and a new touch
	// gets a fresh zero page.
	p := (*byte)(unsafe.Pointer(P2V(uintptr(Lookup(c) & pteAddr))))
	*p = 7
	free0, _ := FreeFrames()
	Discard(c, PageSize)
	if free1, _ := FreeFrames(); free1 != free0+1 {
		t.Fatalf("DONTNEED freed %d frames, want 1", free1-free0)
	}
	if Lookup(c)&PTEPresent != 0 || !Mapped(c) {
		t.Fatal("DONTNEED must unmap the page but keep the mapping")
	}
	// munmap splits the reservation in three.
	if !Unmap(c+PageSize, PageSize) {
		t.Fatal("Unmap failed")
	}
	if Mapped(c+PageSize) || !Mapped(c) || !Mapped(c+2*PageSize) {
		t.Fatal("munmap hole wrong")
	}
	if !Protect(c, PageSize, ProtRead) || HandleFault(c, true, false) != FaultAccess {
		t.Fatal("mprotect to read-only did not stick")
	}
	if Protect(c+PageSize, PageSize, ProtRead) {
		t.Fatal("mprotect of an unmapped page succeeded")
	}
}

func TestFindFreeIsTopDownAndAvoidsMappings(t *testing.T) {
	setupSpace(t)
	a := Map(0, 1<<20, ProtRead, false)
	b := Map(0, 1<<20, ProtRead, false)
	if a == 0 || b == 0 || b >= a || a+1<<20 > mmapBase {
		t.Fatalf("a=%#x b=%#x", a, b)
	}
	if !RangeFree(b-PageSize, PageSize) || RangeFree(b, PageSize) || RangeFree(a+PageSize, PageSize) {
		t.Fatal("RangeFree wrong")
	}
}

func TestEnsureUserRejectsBadRanges(t *testing.T) {
	setupSpace(t)
	m := Map(0, 2*PageSize, ProtRead, false)
	for _, tc := range []struct {
		addr, n uintptr
		write   bool
		ok      bool
	}{
		{m, 2 * PageSize, false, true},
		{m, 2 * PageSize, true, false}, // read-only
		{m + PageSize, 2 * PageSize, false, false},
		{0, 8, false, false},                  // page 0
		{0xffff800000000000, 8, false, false}, // kernel half
		{^uintptr(0) - 4, 16, false, false},   // wraps
	} {
		if got := EnsureUser(tc.addr, tc.n, tc.write); got != tc.ok {
			t.Errorf("EnsureUser(%#x, %d, %v) = %v, want %v", tc.addr, tc.n, tc.write, got, tc.ok)
		}
	}
}
