// Package virtio implements the parts of virtio 1.2 Stardust's drivers
// share: the split virtqueue (§2.7), the device-status and feature
// handshake (§3.1), a Transport abstraction with the virtio-mmio transport
// (§4.2, modern version 2 and legacy version 1), and the virtio-net device
// (§5.1).
//
// Execution context: service context. Everything here runs in ordinary
// goroutines and may allocate and block. The kernel supplies the
// hardware: DMA-able memory (Memory), register access (Registers for
// MMIO) and interrupts (it calls Net.HandleInterrupt from a goroutine
// after the device's interrupt fired). Because of that split the whole
// package is tested on the host against simulated devices.
package virtio

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"unsafe"
)

// Memory is guest-physical memory the device can reach by DMA.
type Memory interface {
	// Alloc returns size bytes of zeroed, physically contiguous memory
	// aligned to align (a power of two), and its guest-physical address.
	// The memory is never freed: drivers allocate once at start-up.
	Alloc(size, align int) (buf []byte, phys uint64, err error)
}

// Descriptor flags (§2.7.5).
const (
	descFNext  = 1 // the chain continues in the next field
	descFWrite = 2 // device-writable (otherwise device-readable)
)

// Ring flags.
const (
	availFNoInterrupt = 1 // driver → device: do not interrupt me
	usedFNoNotify     = 1 // device → driver: do not notify me
)

// legacyAlign is the used-ring alignment of the legacy interface (and the
// page size given to legacy MMIO devices). Laying every queue out this way
// lets one Queue serve both legacy and modern transports.
const legacyAlign = 4096

// Buffer is one element of a descriptor chain.
type Buffer struct {
	Phys  uint64
	Len   uint32
	Write bool // device writes into it (a receive buffer)
}

// ErrQueueFull means too few descriptors are free for the chain.
var ErrQueueFull = errors.New("virtio: queue full")

// Queue is the driver's side of one split virtqueue. It is not safe for
// concurrent use; the device driver serializes access.
//
// Memory layout (one allocation, legacy-compatible):
//
//	desc  at 0:          size × 16 bytes {addr u64, len u32, flags u16, next u16}
//	avail at 16·size:    flags u16, idx u16, ring [size]u16, used_event u16
//	used  at next 4 KiB: flags u16, idx u16, ring [size]{id u32, len u32}, avail_event u16
type Queue struct {
	size     uint16
	mem      []byte
	phys     uint64
	availOff int
	usedOff  int
	freeHead uint16 // first free descriptor; free ones chain via next
	numFree  int
	availIdx uint16 // next avail ring slot (free-running)
	lastUsed uint16 // next used ring slot to consume (free-running)
	chainLen []uint16
	noIntr   bool
}

// NewQueue allocates a queue of size entries (a power of two ≤ 32768).
func NewQueue(mem Memory, size int) (*Queue, error) {
	if size <= 0 || size > 32768 || size&(size-1) != 0 {
		return nil, errors.New("virtio: queue size must be a power of two ≤ 32768")
	}
	availOff := 16 * size
	usedOff := alignUp(availOff+6+2*size, legacyAlign)
	total := usedOff + alignUp(6+8*size, legacyAlign)
	buf, phys, err := mem.Alloc(total, legacyAlign)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		size:     uint16(size),
		mem:      buf,
		phys:     phys,
		availOff: availOff,
		usedOff:  usedOff,
		numFree:  size,
		chainLen: make([]uint16, size),
	}
	for i := 0; i < size-1; i++ {
		q.setDescNext(uint16(i), uint16(i+1))
	}
	return q, nil
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// Size is the number of descriptors.
func (q *Queue) Size() int { return int(q.size) }

// NumFree is the number of unused descriptors.
func (q *Queue) NumFree() int { return q.numFree }

// Addresses returns the guest-physical addresses of the descriptor table,
// the available ("driver") ring and the used ("device") ring.
func (q *Queue) Addresses() (desc, avail, used uint64) {
	return q.phys, q.phys + uint64(q.availOff), q.phys + uint64(q.usedOff)
}

func (q *Queue) desc(i uint16) []byte { return q.mem[int(i)*16 : int(i)*16+16] }

func (q *Queue) setDescNext(i, next uint16) {
	binary.LittleEndian.PutUint16(q.desc(i)[14:], next)
}

// word32 returns a pointer for an atomic access to the 4-aligned word at
// off. Indices shared with the device are read and written atomically:
// that orders them against the descriptor and ring writes around them
// (Go's atomics are sequentially consistent, which also stops the
// compiler from moving plain accesses across them).
func (q *Queue) word32(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&q.mem[off]))
}

// Add puts a descriptor chain on the available ring and returns its head
// index. The device sees it at once; call Notify through the transport if
// NeedsNotify says so.
func (q *Queue) Add(bufs []Buffer) (uint16, error) {
	if len(bufs) == 0 {
		return 0, errors.New("virtio: empty chain")
	}
	if len(bufs) > q.numFree {
		return 0, ErrQueueFull
	}
	head := q.freeHead
	i := head
	for n, b := range bufs {
		d := q.desc(i)
		next := binary.LittleEndian.Uint16(d[14:])
		binary.LittleEndian.PutUint64(d[0:], b.Phys)
		binary.LittleEndian.PutUint32(d[8:], b.Len)
		var flags uint16
		if b.Write {
			flags |= descFWrite
		}
		if n < len(bufs)-1 {
			flags |= descFNext
		} else {
			q.freeHead = next
		}
		binary.LittleEndian.PutUint16(d[12:], flags)
		if n < len(bufs)-1 {
			i = next
		}
	}
	q.numFree -= len(bufs)
	q.chainLen[head] = uint16(len(bufs))

	slot := q.availIdx % q.size
	binary.LittleEndian.PutUint16(q.mem[q.availOff+4+2*int(slot):], head)
	q.availIdx++
	q.publishAvail()
	return head, nil
}

// publishAvail stores avail flags and idx with one atomic 32-bit write
// (flags is the low half, idx the high half, both little-endian).
func (q *Queue) publishAvail() {
	var flags uint32
	if q.noIntr {
		flags = availFNoInterrupt
	}
	atomic.StoreUint32(q.word32(q.availOff), flags|uint32(q.availIdx)<<16)
}

// SetInterrupts asks the device to interrupt (or not) when it uses
// buffers. It is only a hint (§2.7.7): the device may still interrupt.
func (q *Queue) SetInterrupts(on bool) {
	q.noIntr = !on
	q.publishAvail()
}

// NeedsNotify reports whether the device wants to be notified of new
// available buffers (it sets NO_NOTIFY while it is polling anyway).
func (q *Queue) NeedsNotify() bool {
	return atomic.LoadUint32(q.word32(q.usedOff))&usedFNoNotify == 0
}

// HasUsed reports whether the device has returned a chain not yet taken.
func (q *Queue) HasUsed() bool {
	return uint16(atomic.LoadUint32(q.word32(q.usedOff))>>16) != q.lastUsed
}

// Used takes the next chain the device has finished with, returning its
// head index and the number of bytes the device wrote into it. ok is false
// when there is none. The chain's descriptors become free.
func (q *Queue) Used() (head uint16, written uint32, ok bool) {
	if !q.HasUsed() {
		return 0, 0, false
	}
	slot := q.lastUsed % q.size
	e := q.mem[q.usedOff+4+8*int(slot):]
	id := binary.LittleEndian.Uint32(e)
	written = binary.LittleEndian.Uint32(e[4:])
	q.lastUsed++
	if id >= uint32(q.size) || q.chainLen[id] == 0 {
		// A device bug; refusing it keeps the free list sane.
		return 0, 0, false
	}
	head = uint16(id)
	// Return the chain to the free list: walk to its tail and link the
	// tail to the old free head.
	n := q.chainLen[head]
	tail := head
	for k := uint16(1); k < n; k++ {
		tail = binary.LittleEndian.Uint16(q.desc(tail)[14:])
	}
	q.setDescNext(tail, q.freeHead)
	q.freeHead = head
	q.numFree += int(n)
	q.chainLen[head] = 0
	return head, written, true
}
