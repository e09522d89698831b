package virtio

import (
	"strings"
	"testing"

	"github.com/stardust-go/stardust/kernel/drivers/pci"
	"github.com/stardust-go/stardust/kernel/drivers/pci/pcitest"
)

// nullModel completes every chain without writing anything.
type nullModel struct{}

func (nullModel) serve(*fakeDev, int, chain) uint32 { return 0 }

func newTestPCI(t *testing.T, d *fakeDev, transitional uint16) (*PCI, *pcitest.Function) {
	t.Helper()
	dev, f, mapBAR := newFakePCI(t, d, transitional)
	p, err := NewPCI(dev, mapBAR)
	if err != nil {
		t.Fatal(err)
	}
	return p, f
}

func TestPCIProbe(t *testing.T) {
	mem := newFakeMem()
	for _, tc := range []struct {
		name         string
		transitional uint16
	}{{"modern 1af4:1042", 0}, {"transitional 1af4:1001", 0x1001}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDev(t, mem, 2, 0, 1, nullModel{})
			p, f := newTestPCI(t, d, tc.transitional)
			if p.DeviceID() != 2 || p.Legacy() || p.NumQueues() != 1 {
				t.Errorf("ID %d legacy %v queues %d", p.DeviceID(), p.Legacy(), p.NumQueues())
			}
			if c := f.Command(); c&(pci.CommandMemory|pci.CommandBusMaster) != pci.CommandMemory|pci.CommandBusMaster {
				t.Errorf("command %#x: memory decoding and bus mastering not enabled", c)
			}
		})
	}
}

func TestPCIRejects(t *testing.T) {
	s := pcitest.NewSpace()
	s.Add(pci.Address{Device: 1}, pcitest.NewFunction(0x8086, 0x100e, 2, 0, 0, 0))
	// A legacy-only virtio device: the ID, the I/O BAR, no capabilities.
	legacy := pcitest.NewFunction(pci.VendorVirtio, 0x1000, 2, 0, 0, 0).Subsystem(0x1af4, 1)
	legacy.BAR(0, pci.BARIO, 0xc000, 0x20, false)
	s.Add(pci.Address{Device: 2}, legacy)
	// Capabilities pointing past the end of their BAR.
	bad := pcitest.NewFunction(pci.VendorVirtio, 0x1041, 2, 0, 0, 1)
	bad.BAR(4, pci.BARMemory64, 0xfe000000, 0x1000, true)
	bad.AddVirtioCap(pcitest.VirtioCapCommon, 4, 0x800, 0x1000, 0)
	s.Add(pci.Address{Device: 3}, bad)
	devs := pci.Scan(s)
	never := func(int) (PCIRegisters, error) { t.Fatal("mapped a BAR"); return nil, nil }
	for i, want := range []string{"not a virtio device", "no modern interface", "overruns BAR 4"} {
		if _, err := NewPCI(devs[i], never); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", devs[i], err, want)
		}
	}
}

// Queues are programmed through queue_select, and each is notified at
// notify.offset + queue_notify_off × notify_off_multiplier (§4.1.4.4).
// The device here gives the queues non-trivial notify offsets.
func TestPCIQueuesAndNotify(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mult    uint32
		offs    []uint16
		failAtQ int // -1: all queues set up
	}{
		{"QEMU multiplier 4, reversed offsets", 4, []uint16{2, 1, 0}, -1},
		{"multiplier 0, one shared register", 0, []uint16{5, 6, 7}, -1},
		{"multiplier 0x800, third queue outside", 0x800, []uint16{0, 1, 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := newFakeMem()
			d := newFakeDev(t, mem, 2, 0, 3, nullModel{})
			d.notifyMul, d.notifyOffs = tc.mult, tc.offs
			p, _ := newTestPCI(t, d, 0)
			if _, err := negotiate(p, 0, 0); err != nil {
				t.Fatal(err)
			}
			var vqs []*Queue
			for q := 0; q < 3; q++ {
				if max := p.MaxQueueSize(q); max != 256 {
					t.Fatalf("queue %d max %d", q, max)
				}
				vq, _ := NewQueue(mem, 16<<q)
				err := p.SetupQueue(q, vq)
				if q == tc.failAtQ {
					if err == nil {
						t.Fatalf("queue %d: notify register outside the structure accepted", q)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.MaxQueueSize(q) != 0 {
					t.Errorf("queue %d still offered after set-up", q)
				}
				vqs = append(vqs, vq)
			}
			if p.MaxQueueSize(3) != 0 {
				t.Error("queue 3 exists")
			}
			driverOK(p)
			for q := range vqs {
				p.Notify(q)
				p.Notify(q)
			}
			d.mu.Lock()
			for q, vq := range vqs {
				fq := d.queues[q]
				desc, avail, used := vq.Addresses()
				if fq.desc != desc || fq.avail != avail || fq.used != used || int(fq.size) != vq.Size() {
					t.Errorf("queue %d: device has %#x %#x %#x size %d", q, fq.desc, fq.avail, fq.used, fq.size)
				}
				if fq.notifies != 2 {
					t.Errorf("queue %d notified %d times, want 2", q, fq.notifies)
				}
			}
			d.mu.Unlock()
			d.checkClean(t)
		})
	}
}

// After writing 0 to device_status the driver waits until it reads back
// 0 (§4.1.4.3.2).
func TestPCIResetWaits(t *testing.T) {
	d := newFakeDev(t, newFakeMem(), 2, 0, 1, nullModel{})
	p, _ := newTestPCI(t, d, 0)
	d.mu.Lock()
	d.resetLag = 5
	d.mu.Unlock()
	p.SetStatus(0)
	d.mu.Lock()
	lag := d.resetLag
	d.mu.Unlock()
	if lag != 0 || p.Status() != 0 {
		t.Errorf("SetStatus(0) returned with the reset still in progress (lag %d)", lag)
	}
}

func TestPCIFeaturesConfigISR(t *testing.T) {
	d := newFakeDev(t, newFakeMem(), 2, 1<<FeatureAccessPlatform|1<<3|1<<9, 1, nullModel{})
	p, _ := newTestPCI(t, d, 0)
	f, err := negotiate(p, 1<<3|1<<9|1<<FeatureAccessPlatform|1<<12, 1<<9)
	if want := uint64(1<<3 | 1<<9 | 1<<FeatureAccessPlatform | 1<<FeatureVersion1); err != nil || f != want {
		t.Fatalf("negotiated %#x (%v), want %#x", f, err, want)
	}
	d.mu.Lock()
	drv := d.driverF
	d.mu.Unlock()
	if drv != f {
		t.Errorf("device has driver features %#x, want %#x", drv, f)
	}
	if p.Status()&StatusFeaturesOK == 0 {
		t.Error("FEATURES_OK not set")
	}

	gen := p.ConfigGeneration()
	d.setConfig([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if p.ConfigGeneration() == gen {
		t.Error("config generation did not change")
	}
	if p.ReadConfig8(1) != 2 || p.ReadConfig16(2) != 0x0403 || p.ReadConfig32(4) != 0x08070605 {
		t.Errorf("config reads %#x %#x %#x", p.ReadConfig8(1), p.ReadConfig16(2), p.ReadConfig32(4))
	}
	if p.ReadConfig32(0x1000) != 0 || p.ReadConfig8(-1) != 0 {
		t.Error("reads outside the device config are not 0")
	}
	if b := readConfigStable(p, 2, 4); string(b) != "\x03\x04\x05\x06" {
		t.Errorf("readConfigStable %x", b)
	}

	d.interrupt(InterruptUsedBuffer | InterruptConfigChange)
	if s := p.InterruptStatus(); s != 3 {
		t.Errorf("ISR %d, want 3", s)
	}
	if s := p.InterruptStatus(); s != 0 {
		t.Errorf("ISR %d after the read that clears it", s)
	}
	d.checkClean(t)
}

func TestPCIMSIXVectors(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		mem := newFakeMem()
		d := newFakeDev(t, mem, 2, 0, 2, nullModel{})
		d.refuseVecs = refuse
		p, _ := newTestPCI(t, d, 0)
		p.UseMSIX(0, func(q int) uint16 { return uint16(q + 1) })
		if _, err := negotiate(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		for q := 0; q < 2; q++ {
			vq, _ := NewQueue(mem, 8)
			err := p.SetupQueue(q, vq)
			if refuse {
				if err == nil {
					t.Error("refused MSI-X vector not reported")
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if refuse {
			continue
		}
		d.mu.Lock()
		if d.configVec != 0 || d.queues[0].vector != 1 || d.queues[1].vector != 2 {
			t.Errorf("vectors: config %d queues %d %d", d.configVec, d.queues[0].vector, d.queues[1].vector)
		}
		d.mu.Unlock()
		d.checkClean(t)
	}
}
