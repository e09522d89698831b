package pci_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stardust-go/stardust/kernel/drivers/pci"
	"github.com/stardust-go/stardust/kernel/drivers/pci/pcitest"
)

func at(bus, dev, fn uint8) pci.Address { return pci.Address{Bus: bus, Device: dev, Function: fn} }

func find(t *testing.T, devs []*pci.Device, a pci.Address) *pci.Device {
	t.Helper()
	for _, d := range devs {
		if d.Addr == a {
			return d
		}
	}
	t.Fatalf("no function at %s", a)
	return nil
}

func TestScanQ35Inventory(t *testing.T) {
	devs := pci.Scan(pcitest.Q35())
	var got []string
	for _, d := range devs {
		got = append(got, d.String())
	}
	want := []string{
		"00:00.0 8086:29c0 class 060000",
		"00:03.0 1af4:1041 class 020000",
		"00:04.0 1af4:1042 class 010000",
		"00:05.0 1af4:1005 class ff0000",
		"00:06.0 1b36:000c class 060400",
		"01:00.0 1af4:1042 class 010000", // behind the root port
		"00:1f.0 8086:2918 class 060100",
		"00:1f.2 8086:2922 class 010601",
		"00:1f.3 8086:2930 class 0c0500",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("scan found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rp := find(t, devs, at(0, 6, 0))
	if rp.HeaderType != 1 || rp.SecondaryBus != 1 || rp.Subordinate != 1 {
		t.Errorf("root port: header %d buses %d..%d", rp.HeaderType, rp.SecondaryBus, rp.Subordinate)
	}
	rng := find(t, devs, at(0, 5, 0))
	if rng.SubsystemID != 4 || rng.Revision != 0 {
		t.Errorf("transitional rng: subsystem %#x revision %d, want 4 and 0", rng.SubsystemID, rng.Revision)
	}
	if n := len(pci.Find(devs, pci.VendorVirtio, 0x1042)); n != 2 {
		t.Errorf("Find virtio-blk: %d, want 2", n)
	}
}

func TestBARSizes(t *testing.T) {
	s := pcitest.Q35()
	// Firmware left decoding on, as SeaBIOS does: the scanner must
	// switch it off while probing and restore it after.
	net := s.Function(at(0, 3, 0))
	s.Write32(0, 3, 0, 4, pci.CommandMemory|pci.CommandBusMaster)
	before := net.Config()
	devs := pci.Scan(s)

	d := find(t, devs, at(0, 3, 0))
	var got []string
	for _, b := range d.BARs {
		got = append(got, b.String())
	}
	want := "BAR1 mem32 0xfeb01000 size 0x1000, BAR4 mem64 0xfe000000 size 0x4000 prefetchable"
	if strings.Join(got, ", ") != want {
		t.Errorf("virtio-net BARs: %s\nwant %s", strings.Join(got, ", "), want)
	}
	if net.SizedWhileDecoding {
		t.Error("a BAR was sized with decoding enabled")
	}
	if after := net.Config(); string(after[:0x40]) != string(before[:0x40]) {
		t.Errorf("header changed by the scan:\n%x\n%x", before[:0x40], after[:0x40])
	}

	rng := find(t, devs, at(0, 5, 0))
	if b, ok := rng.BAR(0); !ok || b.Kind != pci.BARIO || b.Addr != 0xc100 || b.Size != 0x40 {
		t.Errorf("transitional rng BAR0: %v %v", b, ok)
	}
	sata := find(t, devs, at(0, 0x1f, 2))
	if b, ok := sata.BAR(4); !ok || b.Kind != pci.BARIO || b.Size != 0x20 {
		t.Errorf("SATA BAR4: %v", b)
	}
	if b, ok := sata.BAR(5); !ok || b.Kind != pci.BARMemory32 || b.Addr != 0xfeb10000 || b.Size != 0x1000 {
		t.Errorf("SATA BAR5: %v", b)
	}
	if _, ok := sata.BAR(0); ok {
		t.Error("SATA: unimplemented BAR0 reported")
	}
}

func TestBAR64AboveFourGiB(t *testing.T) {
	s := pcitest.NewSpace()
	f := pcitest.NewFunction(0x1234, 0x5678, 0x03, 0x00, 0, 0)
	f.BAR(0, pci.BARMemory64, 0x8_0000_0000, 8<<30, true)
	f.BAR(2, pci.BARIO, 0x1000, 0x100, false)
	s.Add(at(0, 2, 0), f)
	d := pci.Scan(s)[0]
	if len(d.BARs) != 2 {
		t.Fatalf("BARs: %v", d.BARs)
	}
	if b := d.BARs[0]; b.Kind != pci.BARMemory64 || b.Addr != 0x8_0000_0000 || b.Size != 8<<30 || !b.Prefetchable {
		t.Errorf("64-bit BAR: %v", b)
	}
	if b := d.BARs[1]; b.Index != 2 || b.Kind != pci.BARIO || b.Addr != 0x1000 || b.Size != 0x100 {
		t.Errorf("I/O BAR: %v", b)
	}
}

func TestCapabilitiesAndMSIX(t *testing.T) {
	devs := pci.Scan(pcitest.Q35())
	d := find(t, devs, at(0, 3, 0))
	var got []string
	for _, c := range d.Caps {
		got = append(got, fmt.Sprintf("%#x@%#x", c.ID, c.Offset))
	}
	want := "0x11@0x98 0x9@0x84 0x9@0x70 0x9@0x60 0x9@0x50 0x9@0x40"
	if strings.Join(got, " ") != want {
		t.Errorf("caps %s, want %s", strings.Join(got, " "), want)
	}
	// A vendor capability's body is reachable through the device: the
	// notify structure (cfg_type 2) at 0x70 says BAR 4, offset 0x3000,
	// multiplier 4.
	if typ, bar := d.Read8(0x70+3), d.Read8(0x70+4); typ != 2 || bar != 4 {
		t.Errorf("notify cap: type %d bar %d", typ, bar)
	}
	if off, mult := d.Read32(0x70+8), d.Read32(0x70+16); off != 0x3000 || mult != 4 {
		t.Errorf("notify cap: offset %#x multiplier %d", off, mult)
	}
	m := d.MSIX
	if m == nil || m.Cap != 0x98 || m.TableSize != 3 || m.TableBAR != 1 || m.TableOffset != 0 || m.PBABAR != 1 || m.PBAOffset != 0x800 {
		t.Fatalf("MSI-X: %+v", m)
	}
	if d.MSIXEnabled() {
		t.Error("MSI-X enabled before SetMSIX")
	}
	if err := d.SetMSIX(true); err != nil || !d.MSIXEnabled() {
		t.Errorf("SetMSIX(true): %v, enabled %v", err, d.MSIXEnabled())
	}
	if d.Read16(0x98+2)&0x7ff != 2 {
		t.Error("SetMSIX clobbered the table size")
	}
	if err := d.SetMSIX(false); err != nil || d.MSIXEnabled() {
		t.Errorf("SetMSIX(false): %v", err)
	}
	if sm := find(t, devs, at(0, 0x1f, 3)); sm.MSIX != nil || sm.SetMSIX(true) == nil {
		t.Error("SMBus has no MSI-X")
	}
	if _, ok := find(t, devs, at(0, 0x1f, 2)).Cap(pci.CapMSI); !ok {
		t.Error("SATA: MSI capability missing")
	}
}

// A capability list that points back at itself must not hang the scan.
func TestCapabilityLoop(t *testing.T) {
	s := pcitest.NewSpace()
	f := pcitest.NewFunction(0x1234, 0x1, 0xff, 0, 0, 0)
	off := f.AddCap(pci.CapVendor, []byte{4, 0})
	s.Add(at(0, 1, 0), f)
	// Point the capability's next field at itself.
	w := s.Read32(0, 1, 0, off)
	loop := &loopSpace{Space: s, off: off, word: w&^0xff00 | uint32(off)<<8}
	d := pci.Scan(loop)[0]
	if len(d.Caps) == 0 || len(d.Caps) > 48 {
		t.Errorf("%d capabilities from a looping list", len(d.Caps))
	}
}

type loopSpace struct {
	*pcitest.Space
	off  uint16
	word uint32
}

func (l *loopSpace) Read32(bus, dev, fn uint8, off uint16) uint32 {
	if off == l.off {
		return l.word
	}
	return l.Space.Read32(bus, dev, fn, off)
}

func TestInterruptsAndEnable(t *testing.T) {
	s := pcitest.Q35()
	devs := pci.Scan(s)
	d := find(t, devs, at(0, 4, 0))
	if d.InterruptPin != 1 || d.InterruptLine != 10 {
		t.Errorf("virtio-blk INTx: pin %d line %d", d.InterruptPin, d.InterruptLine)
	}
	if h := find(t, devs, at(0, 0, 0)); h.InterruptPin != 0 {
		t.Errorf("host bridge has interrupt pin %d", h.InterruptPin)
	}
	d.Enable(false)
	f := s.Function(at(0, 4, 0))
	if c := f.Command(); c != pci.CommandMemory|pci.CommandBusMaster {
		t.Errorf("command after Enable: %#x", c)
	}
	d.SetINTx(false)
	if c := f.Command(); c&pci.CommandINTxDisable == 0 || c&pci.CommandMemory == 0 {
		t.Errorf("command after SetINTx(false): %#x", c)
	}
	d.SetINTx(true)
	d.Enable(true)
	if c := f.Command(); c != pci.CommandIO|pci.CommandMemory|pci.CommandBusMaster {
		t.Errorf("command after Enable(true): %#x", c)
	}
}

// Functions 1..7 of a device without the multi-function bit must not be
// probed: some single-function devices answer for every function number.
func TestSingleFunctionNotProbedFurther(t *testing.T) {
	s := pcitest.NewSpace()
	f := pcitest.NewFunction(0x1234, 0x1, 0xff, 0, 0, 0)
	s.Add(at(0, 2, 0), f)
	s.Add(at(0, 2, 1), f) // the same device aliased at function 1
	if n := len(pci.Scan(s)); n != 1 {
		t.Errorf("found %d functions, want 1", n)
	}
}

// A bridge whose secondary bus is its own bus, or unassigned, must not
// make the scan loop or wander.
func TestBridgeLoops(t *testing.T) {
	s := pcitest.NewSpace()
	s.Add(at(0, 1, 0), pcitest.NewBridge(0x1b36, 0x1, 0, 0, 0))
	s.Add(at(0, 2, 0), pcitest.NewBridge(0x1b36, 0x1, 0, 2, 2))
	s.Add(at(2, 0, 0), pcitest.NewBridge(0x1b36, 0x1, 2, 0, 0)) // points back at bus 0
	s.Add(at(2, 1, 0), pcitest.NewFunction(0x1234, 0x2, 0xff, 0, 0, 0))
	devs := pci.Scan(s)
	if len(devs) != 4 {
		t.Errorf("found %d functions, want 4: %v", len(devs), devs)
	}
}

type table struct{ b [64]byte }

func (t *table) Read32(off uint32) uint32     { return binary.LittleEndian.Uint32(t.b[off:]) }
func (t *table) Write32(off uint32, v uint32) { binary.LittleEndian.PutUint32(t.b[off:], v) }

func TestMSIXEntry(t *testing.T) {
	m := &pci.MSIX{TableSize: 3, TableOffset: 16}
	var tb table
	tb.Write32(16+16+12, 1) // vector 1 masked, as after reset
	if err := m.SetEntry(&tb, 1, pci.X86MSIAddress(2), 0x41); err != nil {
		t.Fatal(err)
	}
	e := tb.b[32:48]
	if a := binary.LittleEndian.Uint64(e); a != 0xfee02000 {
		t.Errorf("address %#x", a)
	}
	if d, ctl := binary.LittleEndian.Uint32(e[8:]), binary.LittleEndian.Uint32(e[12:]); d != 0x41 || ctl != 0 {
		t.Errorf("data %#x control %#x", d, ctl)
	}
	if m.SetEntry(&tb, 3, 0, 0) == nil {
		t.Error("SetEntry accepted vector 3 of 3")
	}
}

func TestQ35GSI(t *testing.T) {
	devs := pci.Scan(pcitest.Q35())
	for _, tc := range []struct {
		a   pci.Address
		gsi uint32
	}{
		{at(0, 3, 0), 23},    // slot 3, INTA → PIRQH
		{at(0, 4, 0), 20},    // slot 4, INTA → PIRQE
		{at(0, 5, 0), 21},    // slot 5, INTA → PIRQF
		{at(0, 0x1f, 2), 16}, // slot 31, INTA → PIRQA
		// 01:00.0 INTA behind the root port at slot 6: the swizzle
		// keeps INTA (device 0), slot 6 → PIRQG.
		{at(1, 0, 0), 22},
	} {
		if g, ok := pci.Q35GSI(find(t, devs, tc.a)); !ok || g != tc.gsi {
			t.Errorf("%s: GSI %d (%v), want %d", tc.a, g, ok, tc.gsi)
		}
	}
	if _, ok := pci.Q35GSI(find(t, devs, at(0, 0, 0))); ok {
		t.Error("host bridge has no interrupt pin")
	}
	if p := find(t, devs, at(1, 0, 0)).Parent; p == nil || p.Addr != at(0, 6, 0) {
		t.Errorf("01:00.0 parent %v", p)
	}
}

// The bridge swizzle: INTB of device 2 behind a bridge at slot 7 arrives
// as pin ((2-1+2) mod 4)+1 = INTD of slot 7.
func TestRootINTxSwizzle(t *testing.T) {
	s := pcitest.NewSpace()
	s.Add(at(0, 7, 0), pcitest.NewBridge(0x1b36, 0x1, 0, 1, 1))
	s.Add(at(1, 2, 0), pcitest.NewFunction(0x1234, 0x1, 0xff, 0, 0, 0).Interrupt(2, 0))
	devs := pci.Scan(s)
	if slot, pin := find(t, devs, at(1, 2, 0)).RootINTx(); slot != 7 || pin != 4 {
		t.Errorf("RootINTx = slot %d pin %d, want 7 and 4", slot, pin)
	}
}
