package virtio

import (
	"bytes"
	"math/rand"
	"sync"
	"syscall"
	"testing"
)

// fakeRng is a virtio-rng model producing a reproducible stream, at most
// limit bytes per request (a device may return less than asked, §5.4.6).
type fakeRng struct {
	mu     sync.Mutex
	src    *rand.Rand
	limit  int
	served int
}

func (m *fakeRng) serve(d *fakeDev, q int, c chain) uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(c.bufs) != 1 || !c.bufs[0].Write {
		d.mu.Lock()
		d.violation("entropy request %+v is not one device-writable buffer", c.bufs)
		d.mu.Unlock()
		return 0
	}
	n := min(int(c.bufs[0].Len), m.limit)
	m.src.Read(d.bytesOf(c.bufs[0])[:n])
	m.served++
	return uint32(n)
}

func newRngRig(t *testing.T, transport string, limit int, irq bool) (*RNG, *fakeRng) {
	t.Helper()
	mem := newFakeMem()
	m := &fakeRng{src: rand.New(rand.NewSource(9)), limit: limit}
	d := newFakeDev(t, mem, DeviceIDEntropy, 0, 1, m)
	var tr Transport
	if transport == "pci" {
		tr, _ = newTestPCI(t, d, 0x1005)
	} else {
		var err error
		if tr, err = NewMMIO(&fakeMMIOFront{d: d, version: 2}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewRNG(tr, mem)
	if err != nil {
		t.Fatal(err)
	}
	if irq {
		irqPump(t, d, r.HandleInterrupt)
	}
	t.Cleanup(func() { d.checkClean(t) })
	return r, m
}

func TestRNGRead(t *testing.T) {
	for _, tr := range []string{"pci", "mmio"} {
		t.Run(tr, func(t *testing.T) {
			r, m := newRngRig(t, tr, 100, true)
			p := make([]byte, 1000)
			if n, err := r.Read(p); err != nil || n != len(p) {
				t.Fatalf("Read = %d, %v", n, err)
			}
			// The same seed gives the stream the device produced.
			want := make([]byte, 1000)
			rand.New(rand.NewSource(9)).Read(want)
			if !bytes.Equal(p, want) {
				t.Error("Read returned other bytes than the device produced")
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.served != 10 {
				t.Errorf("%d requests for 1000 bytes at 100 per request, want 10", m.served)
			}
		})
	}
}

// Larger reads are split into buffer-sized requests; concurrent readers
// take turns; without interrupts the driver polls.
func TestRNGLargeConcurrentPolled(t *testing.T) {
	r, _ := newRngRig(t, "mmio", 1<<20, false)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 3*rngBufSize+7)
			if n, err := r.Read(p); err != nil || n != len(p) {
				t.Errorf("Read = %d, %v", n, err)
			}
			if bytes.Count(p, []byte{0}) > len(p)/16 {
				t.Error("mostly zeros: buffer not filled")
			}
		}()
	}
	wg.Wait()
}

func TestRNGEmptyReplyIsEIO(t *testing.T) {
	r, _ := newRngRig(t, "pci", 0, true)
	if _, err := r.Read(make([]byte, 8)); err != syscall.EIO {
		t.Errorf("Read from a device returning nothing: %v, want EIO", err)
	}
}
