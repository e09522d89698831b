package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DeviceIDBlock is the virtio device ID of a block device (§5.2.1).
const DeviceIDBlock = 2

// virtio-blk feature bits (§5.2.3).
const (
	BlkFSizeMax  = 1  // size_max: largest single segment
	BlkFSegMax   = 2  // seg_max: most data segments per request
	BlkFGeometry = 4  // (not used) legacy CHS geometry
	BlkFRO       = 5  // the device is read-only
	BlkFBlkSize  = 6  // blk_size: the device's preferred block size
	BlkFFlush    = 9  // the device has a write cache and takes FLUSH
	BlkFTopology = 10 // (not used) alignment hints
)

// struct virtio_blk_config offsets (§5.2.4).
const (
	blkCfgCapacity = 0  // le64, in 512-byte sectors
	blkCfgSizeMax  = 8  // le32
	blkCfgSegMax   = 12 // le32
	blkCfgBlkSize  = 20 // le32
)

// Request types and status values (§5.2.6).
const (
	blkTIn    = 0
	blkTOut   = 1
	blkTFlush = 4
	blkTGetID = 8

	blkSOK     = 0
	blkSIOErr  = 1
	blkSUnsupp = 2
	// blkSNone marks a status byte the device has not written yet.
	blkSNone = 0xff
)

// SectorSize is the unit of every virtio-blk request, whatever the
// device's own block size (§5.2.4, "capacity" and §5.2.6, "sector").
const SectorSize = 512

// blkIDBytes is the length of the GET_ID answer (VIRTIO_BLK_ID_BYTES).
const blkIDBytes = 20

// blkPollInterval bounds how long a request waits for an interrupt before
// looking at the used ring itself.
const blkPollInterval = 5 * time.Millisecond

// BlockOptions configures NewBlock.
type BlockOptions struct {
	// Requests is how many requests may be in flight; default 16. Each
	// takes three descriptors (header, data, status).
	Requests int
	// MaxTransfer is the largest request in bytes, a multiple of 512;
	// default 64 KiB. Each request slot has a DMA bounce buffer of this
	// size, so the defaults cost 1 MiB of device-visible memory. Larger
	// I/O is split into several requests in flight at once.
	MaxTransfer int
}

// Block is the virtio-blk driver. It implements kernel/fs/ext4's
// BlockDevice (ReadAt, WriteAt, Flush, Size), so a filesystem runs on it
// directly. Any number of goroutines may call it at once; their requests
// are in flight together and complete in whatever order the device
// finishes them.
//
// Every request is one descriptor chain (§5.2.6): a 16-byte
// device-readable header {type le32, reserved le32, sector le64}, the
// data (device-readable for writes, device-writable for reads) and a
// device-writable status byte. Data goes through per-slot DMA buffers:
// the callers' slices live in the Go heap, whose physical addresses the
// driver cannot know.
type Block struct {
	t         Transport
	features  uint64
	capacity  uint64 // sectors; updated on a configuration change
	blkSize   uint32
	segMax    uint32
	maxXfer   int
	readOnly  bool
	capMu     sync.Mutex // guards capacity
	rmwMu     sync.Mutex // serializes read-modify-write of partial sectors
	free      chan int   // request slots not in flight
	slots     []blkSlot
	mu        sync.Mutex // guards vq, slotOf and the slots' req fields
	vq        *Queue
	slotOf    []int // descriptor head → slot
	pollEvery time.Duration
}

// blkSlot is one request's DMA memory.
type blkSlot struct {
	hdr      []byte // 16-byte header, then the status byte at [16]
	hdrPhys  uint64
	data     []byte
	dataPhys uint64
	req      *blkReq // the request using the slot, nil when free
}

// blkReq is a request waiting for the device.
type blkReq struct {
	typ   uint32
	dst   []byte // IN / GET_ID: where the reply data goes
	batch *blkBatch
}

// blkBatch is the set of requests one call issued; done closes when the
// last completes.
type blkBatch struct {
	pending int // guarded by Block.mu
	err     error
	done    chan struct{}
}

// NewBlock initializes a virtio-blk device on transport t: feature
// negotiation, geometry, the request queue and its buffers, DRIVER_OK.
func NewBlock(t Transport, mem Memory, opts BlockOptions) (*Block, error) {
	if id := t.DeviceID(); id != DeviceIDBlock {
		return nil, fmt.Errorf("virtio-blk: device ID %d is not a block device", id)
	}
	if opts.Requests <= 0 {
		opts.Requests = 16
	}
	if opts.MaxTransfer <= 0 {
		opts.MaxTransfer = 64 << 10
	}
	if opts.MaxTransfer%SectorSize != 0 {
		return nil, errors.New("virtio-blk: MaxTransfer must be a multiple of 512")
	}
	wanted := uint64(1<<BlkFSizeMax | 1<<BlkFSegMax | 1<<BlkFRO | 1<<BlkFBlkSize | 1<<BlkFFlush)
	f, err := negotiate(t, wanted, 0)
	if err != nil {
		return nil, err
	}
	b := &Block{t: t, features: f, blkSize: SectorSize, maxXfer: opts.MaxTransfer,
		readOnly: f&(1<<BlkFRO) != 0, pollEvery: blkPollInterval}
	b.capacity = binary.LittleEndian.Uint64(readConfigStable(t, blkCfgCapacity, 8))
	if f&(1<<BlkFBlkSize) != 0 {
		if bs := t.ReadConfig32(blkCfgBlkSize); bs >= SectorSize && bs&(bs-1) == 0 {
			b.blkSize = bs
		}
	}
	if f&(1<<BlkFSegMax) != 0 {
		b.segMax = t.ReadConfig32(blkCfgSegMax) // we use one data segment, always allowed
	}
	if f&(1<<BlkFSizeMax) != 0 {
		// size_max limits one segment; ours is the whole transfer.
		if sm := int(t.ReadConfig32(blkCfgSizeMax)) &^ (SectorSize - 1); sm > 0 && sm < b.maxXfer {
			b.maxXfer = sm
		}
	}

	// Three descriptors per request; the queue size is a power of two
	// no larger than the device's maximum.
	max := t.MaxQueueSize(0)
	if max < 4 {
		t.SetStatus(StatusFailed)
		return nil, errors.New("virtio-blk: request queue missing or too small")
	}
	size := 4
	for size < 3*opts.Requests && size < max {
		size *= 2
	}
	size = min(size, max)
	n := min(opts.Requests, size/3)
	if b.vq, err = NewQueue(mem, size); err != nil {
		return nil, err
	}
	if err := t.SetupQueue(0, b.vq); err != nil {
		t.SetStatus(StatusFailed)
		return nil, err
	}
	b.slotOf = make([]int, size)
	hdrs, hdrPhys, err := mem.Alloc(32*n, 16)
	if err != nil {
		return nil, err
	}
	data, dataPhys, err := mem.Alloc(n*b.maxXfer, 4096)
	if err != nil {
		return nil, err
	}
	b.free = make(chan int, n)
	for i := range n {
		b.slots = append(b.slots, blkSlot{
			hdr: hdrs[32*i : 32*i+17], hdrPhys: hdrPhys + uint64(32*i),
			data: data[i*b.maxXfer : (i+1)*b.maxXfer], dataPhys: dataPhys + uint64(i*b.maxXfer),
		})
		b.free <- i
	}
	driverOK(t)
	return b, nil
}

// Size implements ext4.BlockDevice: the capacity in bytes.
func (b *Block) Size() int64 {
	b.capMu.Lock()
	defer b.capMu.Unlock()
	return int64(b.capacity) * SectorSize
}

// Features returns the negotiated feature bits.
func (b *Block) Features() uint64 { return b.features }

// ReadOnly reports whether the device is read-only (VIRTIO_BLK_F_RO);
// writes then fail with EROFS.
func (b *Block) ReadOnly() bool { return b.readOnly }

// BlockSize is the device's preferred I/O granularity (blk_size, 512
// without VIRTIO_BLK_F_BLK_SIZE). Requests are still addressed in
// 512-byte sectors.
func (b *Block) BlockSize() int { return int(b.blkSize) }

// MaxTransfer is the largest single request in bytes.
func (b *Block) MaxTransfer() int { return b.maxXfer }

// ReadAt implements ext4.BlockDevice. Offsets and lengths that are not
// sector multiples are served by reading the covering sectors.
func (b *Block) ReadAt(p []byte, off int64) (int, error) {
	if err := b.checkRange(len(p), off); err != nil {
		return 0, err
	}
	if off%SectorSize != 0 || len(p)%SectorSize != 0 {
		start := off &^ (SectorSize - 1)
		end := (off + int64(len(p)) + SectorSize - 1) &^ (SectorSize - 1)
		tmp := make([]byte, end-start)
		if err := b.transfer(blkTIn, tmp, start); err != nil {
			return 0, err
		}
		return copy(p, tmp[off-start:]), nil
	}
	if err := b.transfer(blkTIn, p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteAt implements ext4.BlockDevice. A write that does not cover whole
// sectors reads the partial sectors first and writes them back merged;
// that read-modify-write is serialized against other partial writes, but
// not against a concurrent aligned write to the same sector.
func (b *Block) WriteAt(p []byte, off int64) (int, error) {
	if b.readOnly {
		return 0, syscall.EROFS
	}
	if err := b.checkRange(len(p), off); err != nil {
		return 0, err
	}
	n := len(p)
	if off%SectorSize != 0 || len(p)%SectorSize != 0 {
		b.rmwMu.Lock()
		defer b.rmwMu.Unlock()
		start := off &^ (SectorSize - 1)
		end := (off + int64(len(p)) + SectorSize - 1) &^ (SectorSize - 1)
		tmp := make([]byte, end-start)
		if err := b.transfer(blkTIn, tmp, start); err != nil {
			return 0, err
		}
		copy(tmp[off-start:], p)
		p, off = tmp, start
	}
	if err := b.transfer(blkTOut, p, off); err != nil {
		return 0, err
	}
	return n, nil
}

func (b *Block) checkRange(n int, off int64) error {
	if off < 0 {
		return syscall.EINVAL
	}
	if off+int64(n) > b.Size() {
		return syscall.EIO // as ext4.MemDevice: past the end is an I/O error
	}
	return nil
}

// Flush implements ext4.BlockDevice: it returns once every write that
// completed before it was called is on stable storage. A FLUSH request
// covers exactly the writes completed before it was submitted (§5.2.6),
// and WriteAt returns only after its requests completed, so no extra
// ordering is needed. Without VIRTIO_BLK_F_FLUSH there is nothing to ask
// for: a device that offered FLUSH but did not get it must write through,
// and one that never offered it gives no guarantee the driver could
// improve on.
func (b *Block) Flush() error {
	if b.features&(1<<BlkFFlush) == 0 {
		return nil
	}
	return b.run([]blkChunk{{typ: blkTFlush}})
}

// ID returns the device's serial number (GET_ID, up to 20 bytes, NUL
// padded when shorter). Devices may not support it.
func (b *Block) ID() (string, error) {
	buf := make([]byte, blkIDBytes)
	if err := b.run([]blkChunk{{typ: blkTGetID, data: buf}}); err != nil {
		return "", err
	}
	s, _, _ := strings.Cut(string(buf), "\x00")
	return s, nil
}

// blkChunk is one request of a transfer.
type blkChunk struct {
	typ    uint32
	sector uint64
	data   []byte // nil for FLUSH
}

// transfer splits sector-aligned I/O into requests of at most maxXfer
// bytes and runs them all at once.
func (b *Block) transfer(typ uint32, p []byte, off int64) error {
	var chunks []blkChunk
	for done := 0; done < len(p); done += b.maxXfer {
		end := min(done+b.maxXfer, len(p))
		chunks = append(chunks, blkChunk{typ: typ, sector: uint64(off+int64(done)) / SectorSize, data: p[done:end]})
	}
	if len(chunks) == 0 {
		return nil
	}
	return b.run(chunks)
}

// run submits every chunk, each as soon as a request slot is free, and
// waits until all have completed. Completion (reap) copies read data out
// and frees the slot itself, so a batch larger than the number of slots
// makes progress without this goroutine's help.
func (b *Block) run(chunks []blkChunk) error {
	batch := &blkBatch{pending: len(chunks), done: make(chan struct{})}
	timer := time.NewTimer(b.pollEvery)
	defer timer.Stop()
	for _, c := range chunks {
		var slot int
		for got := false; !got; {
			select {
			case slot = <-b.free:
				got = true
			case <-timer.C:
				b.reap() // in case an interrupt went missing
				timer.Reset(b.pollEvery)
			}
		}
		b.submit(slot, c, batch)
	}
	for {
		select {
		case <-batch.done:
			return batch.err
		case <-timer.C:
			b.reap()
			timer.Reset(b.pollEvery)
		}
	}
}

// submit fills a slot's header (and, for a write, its data buffer) and
// puts the chain on the queue.
func (b *Block) submit(slot int, c blkChunk, batch *blkBatch) {
	s := &b.slots[slot]
	binary.LittleEndian.PutUint32(s.hdr[0:], c.typ)
	binary.LittleEndian.PutUint32(s.hdr[4:], 0)
	binary.LittleEndian.PutUint64(s.hdr[8:], c.sector)
	// A status the device never wrote must not read as OK.
	s.hdr[16] = blkSNone
	chain := []Buffer{{Phys: s.hdrPhys, Len: 16}}
	if len(c.data) > 0 {
		if c.typ == blkTOut {
			copy(s.data, c.data)
		}
		chain = append(chain, Buffer{Phys: s.dataPhys, Len: uint32(len(c.data)), Write: c.typ != blkTOut})
	}
	chain = append(chain, Buffer{Phys: s.hdrPhys + 16, Len: 1, Write: true})

	b.mu.Lock()
	s.req = &blkReq{typ: c.typ, dst: c.data, batch: batch}
	head, err := b.vq.Add(chain)
	if err != nil {
		// Cannot happen: a free slot implies three free descriptors.
		s.req = nil
		b.mu.Unlock()
		b.free <- slot
		b.finish(batch, syscall.EIO)
		return
	}
	b.slotOf[head] = slot
	notify := b.vq.NeedsNotify()
	b.mu.Unlock()
	if notify {
		b.t.Notify(0)
	}
}

// finish records one completed request of batch.
func (b *Block) finish(batch *blkBatch, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finishLocked(batch, err)
}

func (b *Block) finishLocked(batch *blkBatch, err error) {
	if err != nil && batch.err == nil {
		batch.err = err
	}
	batch.pending--
	if batch.pending == 0 {
		close(batch.done)
	}
}

// HandleInterrupt is called by the kernel, from a goroutine, after the
// device's interrupt fired (it is safe to call spuriously). It
// acknowledges the interrupt, completes finished requests and, on a
// configuration change (a resized disk), re-reads the capacity.
func (b *Block) HandleInterrupt() {
	if b.t.InterruptStatus()&InterruptConfigChange != 0 {
		c := binary.LittleEndian.Uint64(readConfigStable(b.t, blkCfgCapacity, 8))
		b.capMu.Lock()
		b.capacity = c
		b.capMu.Unlock()
	}
	b.reap()
}

// reap completes every chain on the used ring: status byte to error,
// read data copied to its destination, slot freed, batch told.
func (b *Block) reap() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		head, written, ok := b.vq.Used()
		if !ok {
			return
		}
		slot := b.slotOf[head]
		s := &b.slots[slot]
		r := s.req
		s.req = nil
		var err error
		switch st := s.hdr[16]; {
		case st != blkSOK:
			// IOERR, UNSUPP, or a status never written: the
			// filesystem sees all of them as an I/O error.
			err = syscall.EIO
		case r.typ == blkTIn || r.typ == blkTGetID:
			// written counts the data and the status byte; a
			// short read would leave stale bytes in the buffer.
			if r.typ == blkTIn && int(written) < len(r.dst)+1 {
				err = syscall.EIO
			} else {
				copy(r.dst, s.data)
			}
		}
		b.free <- slot // never blocks: capacity is the number of slots
		b.finishLocked(r.batch, err)
	}
}
