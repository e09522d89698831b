package virtio

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeBlk is a virtio-blk device model backed by a []byte. With a write
// cache (VIRTIO_BLK_F_FLUSH offered) writes land in disk at once but
// reach durable, what survives a power cut, only with a FLUSH; without
// one every write is durable when it completes.
type fakeBlk struct {
	mu         sync.Mutex
	disk       []byte
	durable    []byte
	writeCache bool
	id         string // "" answers GET_ID with UNSUPP
	failSector int64  // requests touching it fail with IOERR; -1 for none
	counts     map[uint32]int
}

func (m *fakeBlk) serve(d *fakeDev, q int, c chain) uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(c.bufs)
	bad := func(format string, args ...any) uint32 {
		d.mu.Lock()
		d.violation(format, args...)
		d.mu.Unlock()
		return 0
	}
	// §5.2.6: header (device-readable, 16 bytes), data, status
	// (device-writable, last byte of the chain).
	if n < 2 || c.bufs[0].Write || c.bufs[0].Len != 16 || !c.bufs[n-1].Write || c.bufs[n-1].Len != 1 {
		return bad("malformed chain %+v", c.bufs)
	}
	hdr := d.bytesOf(c.bufs[0])
	typ, sector := le.Uint32(hdr), le.Uint64(hdr[8:])
	status := d.bytesOf(c.bufs[n-1])
	data := c.bufs[1 : n-1]
	total := 0
	for _, b := range data {
		if b.Write != (typ != blkTOut) {
			return bad("type %d data buffer with the wrong direction", typ)
		}
		total += int(b.Len)
	}
	m.counts[typ]++
	off := int64(sector) * SectorSize
	inRange := total%SectorSize == 0 && off+int64(total) <= int64(len(m.disk))
	hits := m.failSector >= 0 && m.failSector >= int64(sector) && m.failSector < int64(sector)+int64(total/SectorSize)
	written := uint32(1)
	switch {
	case typ == blkTFlush:
		copy(m.durable, m.disk)
		status[0] = blkSOK
	case typ == blkTGetID:
		if m.id == "" {
			status[0] = blkSUnsupp
			break
		}
		id := make([]byte, blkIDBytes)
		copy(id, m.id)
		copy(d.bytesOf(data[0]), id)
		written += blkIDBytes
		status[0] = blkSOK
	case (typ == blkTIn || typ == blkTOut) && (!inRange || hits):
		status[0] = blkSIOErr
	case typ == blkTIn:
		for _, b := range data {
			copy(d.bytesOf(b), m.disk[off:])
			off += int64(b.Len)
		}
		written += uint32(total)
		status[0] = blkSOK
	case typ == blkTOut:
		for _, b := range data {
			copy(m.disk[off:], d.bytesOf(b))
			if !m.writeCache {
				copy(m.durable[off:], d.bytesOf(b))
			}
			off += int64(b.Len)
		}
		status[0] = blkSOK
	default:
		status[0] = blkSUnsupp
	}
	return written
}

// blkConfig is struct virtio_blk_config with capacity, size_max, seg_max
// and blk_size filled in.
func blkConfig(size int, sizeMax, segMax, blkSize uint32) []byte {
	c := make([]byte, 60)
	le.PutUint64(c[blkCfgCapacity:], uint64(size/SectorSize))
	le.PutUint32(c[blkCfgSizeMax:], sizeMax)
	le.PutUint32(c[blkCfgSegMax:], segMax)
	le.PutUint32(c[blkCfgBlkSize:], blkSize)
	return c
}

type blkRig struct {
	blk   *Block
	dev   *fakeDev
	model *fakeBlk
}

// newBlkRig builds a Block over a simulated device on transport
// ("pci", "mmio" modern or "mmio-legacy") backed by disk. Interrupts are
// delivered unless noIRQ, in which case the driver must poll.
func newBlkRig(t *testing.T, transport string, disk []byte, features uint64, opts BlockOptions, noIRQ bool) *blkRig {
	t.Helper()
	mem := newFakeMem()
	m := &fakeBlk{disk: disk, durable: bytes.Clone(disk), writeCache: features&(1<<BlkFFlush) != 0,
		id: "stardust-disk-0", failSector: -1, counts: map[uint32]int{}}
	d := newFakeDev(t, mem, DeviceIDBlock, features, 1, m)
	d.shuffle = rand.New(rand.NewSource(1))
	d.setConfig(blkConfig(len(disk), 1<<20, 126, 4096))
	var tr Transport
	switch transport {
	case "pci":
		tr, _ = newTestPCI(t, d, 0)
	case "mmio", "mmio-legacy":
		v := uint32(2)
		if transport == "mmio-legacy" {
			v, d.legacy = 1, true
		}
		var err error
		if tr, err = NewMMIO(&fakeMMIOFront{d: d, version: v}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := NewBlock(tr, mem, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !noIRQ {
		irqPump(t, d, b.HandleInterrupt)
	}
	t.Cleanup(func() { d.checkClean(t) })
	return &blkRig{b, d, m}
}

const allBlkFeatures = 1<<BlkFFlush | 1<<BlkFBlkSize | 1<<BlkFSegMax | 1<<BlkFSizeMax

func TestBlockReadWrite(t *testing.T) {
	for _, tr := range []string{"pci", "mmio", "mmio-legacy"} {
		t.Run(tr, func(t *testing.T) {
			const size = 1 << 20
			disk := make([]byte, size)
			rnd := rand.New(rand.NewSource(7))
			rnd.Read(disk)
			shadow := bytes.Clone(disk)
			// Small slots and transfers: a 64 KiB write becomes 16
			// requests through 4 slots.
			r := newBlkRig(t, tr, disk, allBlkFeatures, BlockOptions{Requests: 4, MaxTransfer: 4096}, false)
			b := r.blk
			if b.Size() != size || b.BlockSize() != 4096 || b.MaxTransfer() != 4096 || b.ReadOnly() {
				t.Fatalf("size %d block %d max %d ro %v", b.Size(), b.BlockSize(), b.MaxTransfer(), b.ReadOnly())
			}
			for i := 0; i < 200; i++ {
				n := 1 + rnd.Intn(70000)
				if i%2 == 0 {
					n = (1 + rnd.Intn(128)) * SectorSize // aligned
				}
				off := rnd.Int63n(size - int64(n))
				if i%2 == 0 {
					off &^= SectorSize - 1
				}
				if rnd.Intn(2) == 0 {
					p := make([]byte, n)
					rnd.Read(p)
					if w, err := b.WriteAt(p, off); err != nil || w != n {
						t.Fatalf("WriteAt(%d, %d) = %d, %v", n, off, w, err)
					}
					copy(shadow[off:], p)
				} else {
					p := make([]byte, n)
					if got, err := b.ReadAt(p, off); err != nil || got != n {
						t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
					}
					if !bytes.Equal(p, shadow[off:off+int64(n)]) {
						t.Fatalf("ReadAt(%d, %d): wrong data", n, off)
					}
				}
			}
			r.model.mu.Lock()
			defer r.model.mu.Unlock()
			if !bytes.Equal(r.model.disk, shadow) {
				t.Error("device contents differ from what was written")
			}
		})
	}
}

// Many goroutines at once: their requests share the queue and complete
// out of order.
func TestBlockConcurrent(t *testing.T) {
	const size = 4 << 20
	r := newBlkRig(t, "pci", make([]byte, size), allBlkFeatures, BlockOptions{Requests: 8, MaxTransfer: 8192}, false)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(int64(g)))
			base := int64(g) * (size / 16)
			for i := 0; i < 20; i++ {
				p := make([]byte, (1+rnd.Intn(40))*SectorSize)
				rnd.Read(p)
				off := base + int64(rnd.Intn(200))*SectorSize
				if _, err := r.blk.WriteAt(p, off); err != nil {
					errs <- err
					return
				}
				q := make([]byte, len(p))
				if _, err := r.blk.ReadAt(q, off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(p, q) {
					errs <- fmt.Errorf("goroutine %d: read back differs", g)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// While the device holds on to its queue, every caller's request sits on
// the ring at the same time.
func TestBlockManyInFlight(t *testing.T) {
	r := newBlkRig(t, "pci", make([]byte, 1<<20), allBlkFeatures, BlockOptions{Requests: 16}, false)
	r.dev.setPaused(true)
	const callers = 12
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := r.blk.ReadAt(make([]byte, 4096), int64(i)*4096); err != nil {
				t.Error(err)
			}
		}(i)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pending(r.dev) < callers {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests on the ring, want %d", pending(r.dev), callers)
		}
		time.Sleep(time.Millisecond)
	}
	r.dev.setPaused(false)
	wg.Wait()
}

// pending counts the chains on queue 0's available ring the device has
// not taken yet.
func pending(d *fakeDev) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &d.queues[0]
	idx := uint16(atomic.LoadUint32(d.mem.word(q.avail)) >> 16)
	return int(idx - q.lastAvail)
}

func TestBlockErrors(t *testing.T) {
	r := newBlkRig(t, "pci", make([]byte, 1<<20), allBlkFeatures, BlockOptions{}, false)
	b := r.blk
	r.model.mu.Lock()
	r.model.failSector = 100
	r.model.mu.Unlock()
	if _, err := b.ReadAt(make([]byte, 8192), 96*SectorSize); err != syscall.EIO {
		t.Errorf("read over a bad sector: %v, want EIO", err)
	}
	if _, err := b.WriteAt(make([]byte, 512), 100*SectorSize); err != syscall.EIO {
		t.Errorf("write to a bad sector: %v, want EIO", err)
	}
	if _, err := b.ReadAt(make([]byte, 512), 99*SectorSize); err != nil {
		t.Errorf("read next to the bad sector: %v", err)
	}
	if _, err := b.ReadAt(make([]byte, 1024), 1<<20-512); err != syscall.EIO {
		t.Errorf("read past the end: %v, want EIO", err)
	}
	if _, err := b.WriteAt(make([]byte, 1), -1); err != syscall.EINVAL {
		t.Errorf("negative offset: %v, want EINVAL", err)
	}
	if id, err := b.ID(); err != nil || id != "stardust-disk-0" {
		t.Errorf("ID() = %q, %v", id, err)
	}
	r.model.mu.Lock()
	r.model.id = ""
	r.model.mu.Unlock()
	if _, err := b.ID(); !errors.Is(err, syscall.EIO) {
		t.Errorf("ID() on a device without GET_ID: %v", err)
	}
}

func TestBlockReadOnly(t *testing.T) {
	disk := bytes.Repeat([]byte("ro"), 1<<15)
	r := newBlkRig(t, "pci", disk, allBlkFeatures|1<<BlkFRO, BlockOptions{}, false)
	if !r.blk.ReadOnly() || r.blk.Features()&(1<<BlkFRO) == 0 {
		t.Fatal("RO not negotiated")
	}
	if _, err := r.blk.WriteAt(make([]byte, 512), 0); err != syscall.EROFS {
		t.Errorf("write to a read-only disk: %v, want EROFS", err)
	}
	p := make([]byte, 4)
	if _, err := r.blk.ReadAt(p, 510); err != nil || string(p) != "roro" {
		t.Errorf("unaligned read %q, %v", p, err)
	}
}

// Flush is the barrier ext4's journal rests on: writes reach durable
// storage only through it when the device has a write cache.
func TestBlockFlush(t *testing.T) {
	r := newBlkRig(t, "pci", make([]byte, 1<<16), allBlkFeatures, BlockOptions{}, false)
	if _, err := r.blk.WriteAt([]byte("journal!"), 4096); err != nil {
		t.Fatal(err)
	}
	r.model.mu.Lock()
	before := string(r.model.durable[4096:4104])
	r.model.mu.Unlock()
	if err := r.blk.Flush(); err != nil {
		t.Fatal(err)
	}
	r.model.mu.Lock()
	after := string(r.model.durable[4096:4104])
	flushes := r.model.counts[blkTFlush]
	r.model.mu.Unlock()
	if before == "journal!" || after != "journal!" || flushes != 1 {
		t.Errorf("durable before flush %q, after %q, %d flushes", before, after, flushes)
	}

	// A device without FLUSH gets no flush requests.
	r2 := newBlkRig(t, "pci", make([]byte, 1<<16), 1<<BlkFBlkSize, BlockOptions{}, false)
	if err := r2.blk.Flush(); err != nil || r2.model.counts[blkTFlush] != 0 {
		t.Errorf("Flush without FLUSH: %v, %d requests", err, r2.model.counts[blkTFlush])
	}
}

// Without interrupts the driver still finishes by polling the used ring.
func TestBlockPollsWithoutInterrupts(t *testing.T) {
	r := newBlkRig(t, "mmio", make([]byte, 1<<16), allBlkFeatures, BlockOptions{Requests: 2, MaxTransfer: 4096}, true)
	p := bytes.Repeat([]byte{0xa5}, 20000)
	if _, err := r.blk.WriteAt(p, 100); err != nil {
		t.Fatal(err)
	}
	q := make([]byte, len(p))
	if _, err := r.blk.ReadAt(q, 100); err != nil || !bytes.Equal(p, q) {
		t.Fatalf("read back: %v", err)
	}
}

// A resized disk raises a configuration-change interrupt; the driver
// picks up the new capacity.
func TestBlockResize(t *testing.T) {
	r := newBlkRig(t, "pci", make([]byte, 1<<16), allBlkFeatures, BlockOptions{}, false)
	r.model.mu.Lock()
	r.model.disk = append(r.model.disk, make([]byte, 1<<16)...)
	r.model.mu.Unlock()
	r.dev.setConfig(blkConfig(2<<16, 1<<20, 126, 4096))
	r.dev.interrupt(InterruptConfigChange)
	deadline := time.Now().Add(5 * time.Second)
	for r.blk.Size() != 2<<16 {
		if time.Now().After(deadline) {
			t.Fatalf("size %d after resize", r.blk.Size())
		}
		time.Sleep(time.Millisecond)
	}
}
