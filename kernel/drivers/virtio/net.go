package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DeviceIDNet is the virtio device ID of a network card.
const DeviceIDNet = 1

// virtio-net feature bits (§5.1.3).
const (
	NetFCsum      = 0  // device checksums partial packets we send
	NetFGuestCsum = 1  // device may hand us partial / validated packets
	NetFMTU       = 3  // device reports its MTU
	NetFMAC       = 5  // device has a MAC address in config space
	NetFMrgRxbuf  = 15 // (not used) merge receive buffers
	NetFStatus    = 16 // (not used) link status in config space
)

// virtio_net_hdr flags (§5.1.6).
const (
	netHdrNeedsCsum = 1
	netHdrDataValid = 2
)

// Queue numbers of the first (only) queue pair.
const (
	netRxQueue = 0
	netTxQueue = 1
)

const (
	// netBufSize holds one header plus a full 1514-byte frame, with room
	// to spare; two fit in a page.
	netBufSize = 2048
	// netQueueSize caps the queues: 256 receive buffers in flight is
	// plenty for 1500-byte frames and keeps memory at 512 KiB a queue.
	netQueueSize = 256
	// txPollInterval bounds how long a blocked Transmit waits for an
	// interrupt before looking at the used ring itself, in case the
	// device suppressed the interrupt.
	txPollInterval = 5 * time.Millisecond
)

// Net is the virtio-net driver. It implements the Device interface of
// kernel/net: MAC, MTU, Transmit, SetReceiver.
type Net struct {
	t        Transport
	features uint64
	hdrLen   int  // 12 for virtio 1.x, 10 for legacy without MRG_RXBUF
	split    bool // header and frame in separate descriptors (legacy w/o ANY_LAYOUT)
	mac      [6]byte
	mtu      int

	rxMu     sync.Mutex
	rxq      *Queue
	rxBuf    []byte
	rxPhys   uint64
	rxSlotOf []int // descriptor head → buffer slot
	rx       func(frame []byte, csumValid bool)

	txMu     sync.Mutex
	txq      *Queue
	txBuf    []byte
	txPhys   uint64
	txSlotOf []int         // descriptor head → buffer slot
	txFree   []int         // free buffer slots
	txSpace  chan struct{} // a token when HandleInterrupt freed TX space

	Stats NetStats
}

// NetStats counts what the driver did; fields are updated under the
// driver's locks and are for diagnostics.
type NetStats struct {
	RxFrames, TxFrames, TxWaits, RxErrors uint64
}

// NewNet initializes a virtio-net device on transport t: feature
// negotiation, queue set-up, receive buffers posted, DRIVER_OK.
func NewNet(t Transport, mem Memory) (*Net, error) {
	if id := t.DeviceID(); id != DeviceIDNet {
		return nil, fmt.Errorf("virtio-net: device ID %d is not a network card", id)
	}
	wanted := uint64(1<<NetFMAC | 1<<NetFCsum | 1<<NetFGuestCsum | 1<<FeatureAnyLayout)
	f, err := negotiate(t, wanted, 1<<NetFMAC)
	if err != nil {
		return nil, err
	}
	n := &Net{t: t, features: f, hdrLen: 12, mtu: 1500, txSpace: make(chan struct{}, 1)}
	if t.Legacy() {
		// Without VERSION_1 (and without MRG_RXBUF, which we do
		// not negotiate) the header has no num_buffers field.
		n.hdrLen = 10
		n.split = f&(1<<FeatureAnyLayout) == 0
	}
	copy(n.mac[:], readConfigStable(t, 0, 6))

	if n.rxq, n.rxBuf, n.rxPhys, err = n.setupQueue(mem, netRxQueue); err != nil {
		return nil, err
	}
	if n.txq, n.txBuf, n.txPhys, err = n.setupQueue(mem, netTxQueue); err != nil {
		return nil, err
	}
	n.rxSlotOf = make([]int, n.rxq.Size())
	n.txSlotOf = make([]int, n.txq.Size())
	for i := n.txq.Size() - 1; i >= 0; i-- {
		n.txFree = append(n.txFree, i)
	}
	// Fill the receive queue: every buffer in flight at once (half as
	// many when each takes two descriptors).
	perBuf := 1
	if n.split {
		perBuf = 2
	}
	for slot := 0; slot < n.rxq.Size()/perBuf; slot++ {
		if err := n.postRx(slot); err != nil {
			return nil, err
		}
	}
	// Sent frames' buffers are reclaimed by the next Transmit, so the
	// device need not interrupt for them: that halves the interrupts of
	// a request-response server. Transmit asks for them only while it
	// waits for ring space.
	n.txq.SetInterrupts(false)
	driverOK(t)
	t.Notify(netRxQueue)
	return n, nil
}

func (n *Net) setupQueue(mem Memory, q int) (*Queue, []byte, uint64, error) {
	size := n.t.MaxQueueSize(q)
	if size == 0 {
		return nil, nil, 0, fmt.Errorf("virtio-net: queue %d missing", q)
	}
	if size > netQueueSize {
		size = netQueueSize
	}
	vq, err := NewQueue(mem, size)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := n.t.SetupQueue(q, vq); err != nil {
		return nil, nil, 0, err
	}
	buf, phys, err := mem.Alloc(size*netBufSize, 4096)
	if err != nil {
		return nil, nil, 0, err
	}
	return vq, buf, phys, nil
}

// Features returns the negotiated feature bits.
func (n *Net) Features() uint64 { return n.features }

// MAC implements net.Device.
func (n *Net) MAC() [6]byte { return n.mac }

// MTU implements net.Device.
func (n *Net) MTU() int { return n.mtu }

// SetReceiver implements net.Device.
func (n *Net) SetReceiver(rx func(frame []byte, csumValid bool)) {
	n.rxMu.Lock()
	defer n.rxMu.Unlock()
	n.rx = rx
}

// postRx gives receive buffer slot to the device. Caller holds rxMu (or
// is initializing).
func (n *Net) postRx(slot int) error {
	phys := n.rxPhys + uint64(slot*netBufSize)
	var chain []Buffer
	if n.split {
		chain = []Buffer{
			{Phys: phys, Len: uint32(n.hdrLen), Write: true},
			{Phys: phys + uint64(n.hdrLen), Len: uint32(netBufSize - n.hdrLen), Write: true},
		}
	} else {
		chain = []Buffer{{Phys: phys, Len: netBufSize, Write: true}}
	}
	head, err := n.rxq.Add(chain)
	if err != nil {
		return err
	}
	n.rxSlotOf[head] = slot
	return nil
}

// Transmit implements net.Device. It blocks while every transmit
// descriptor is in flight: the stack is slowed down to the device's pace
// and no frame is ever dropped for lack of ring space.
func (n *Net) Transmit(frame []byte, csumStart, csumOffset int) error {
	if len(frame) > netBufSize-n.hdrLen {
		return errors.New("virtio-net: frame too large")
	}
	if csumOffset != 0 && (csumStart < 0 || csumStart+csumOffset+2 > len(frame)) {
		return errors.New("virtio-net: bad checksum offsets")
	}
	descs := 1
	if n.split {
		descs = 2
	}
	n.txMu.Lock()
	for {
		n.reclaimTxLocked()
		if n.txq.NumFree() >= descs && len(n.txFree) > 0 {
			break
		}
		// The ring is full: ask for an interrupt when the device
		// frees a buffer, and look once more in case it already has
		// (it may have used them before it could see the request).
		n.txq.SetInterrupts(true)
		if n.reclaimTxLocked() > 0 {
			continue
		}
		n.Stats.TxWaits++
		n.txMu.Unlock()
		select {
		case <-n.txSpace:
		case <-time.After(txPollInterval):
		}
		n.txMu.Lock()
	}
	n.txq.SetInterrupts(false)
	defer n.txMu.Unlock()
	slot := n.txFree[len(n.txFree)-1]
	n.txFree = n.txFree[:len(n.txFree)-1]
	buf := n.txBuf[slot*netBufSize : (slot+1)*netBufSize]
	hdr := buf[:n.hdrLen]
	clear(hdr)
	copy(buf[n.hdrLen:], frame)
	if csumOffset != 0 {
		if n.features&(1<<NetFCsum) != 0 {
			hdr[0] = netHdrNeedsCsum
			binary.LittleEndian.PutUint16(hdr[6:], uint16(csumStart))
			binary.LittleEndian.PutUint16(hdr[8:], uint16(csumOffset))
		} else {
			// The device cannot finish the checksum; do it here.
			finishChecksum(buf[n.hdrLen:n.hdrLen+len(frame)], csumStart, csumOffset)
		}
	}
	phys := n.txPhys + uint64(slot*netBufSize)
	var chain []Buffer
	if n.split {
		chain = []Buffer{
			{Phys: phys, Len: uint32(n.hdrLen)},
			{Phys: phys + uint64(n.hdrLen), Len: uint32(len(frame))},
		}
	} else {
		chain = []Buffer{{Phys: phys, Len: uint32(n.hdrLen + len(frame))}}
	}
	head, err := n.txq.Add(chain)
	if err != nil {
		n.txFree = append(n.txFree, slot)
		return err // cannot happen: space was checked above
	}
	n.txSlotOf[head] = slot
	n.Stats.TxFrames++
	if n.txq.NeedsNotify() {
		n.t.Notify(netTxQueue)
	}
	return nil
}

// reclaimTxLocked frees the buffers of frames the device has sent.
func (n *Net) reclaimTxLocked() int {
	freed := 0
	for {
		head, _, ok := n.txq.Used()
		if !ok {
			return freed
		}
		n.txFree = append(n.txFree, n.txSlotOf[head])
		freed++
	}
}

// HandleInterrupt is called by the kernel, from a goroutine, after the
// device's interrupt fired (or periodically when polling). It
// acknowledges the interrupt, delivers received frames to the receiver,
// reposts their buffers and wakes transmitters waiting for ring space.
// The interrupt is acknowledged before the rings are looked at, so work
// that arrives meanwhile raises a new interrupt rather than being missed.
func (n *Net) HandleInterrupt() {
	n.t.InterruptStatus()
	n.pollRx()
	n.txMu.Lock()
	freed := n.reclaimTxLocked()
	n.txMu.Unlock()
	if freed > 0 {
		select {
		case n.txSpace <- struct{}{}:
		default:
		}
	}
}

func (n *Net) pollRx() {
	n.rxMu.Lock()
	defer n.rxMu.Unlock()
	posted := false
	for {
		head, written, ok := n.rxq.Used()
		if !ok {
			break
		}
		slot := n.rxSlotOf[head]
		buf := n.rxBuf[slot*netBufSize : (slot+1)*netBufSize]
		if int(written) >= n.hdrLen+14 && int(written) <= len(buf) && n.rx != nil {
			frame := buf[n.hdrLen:written]
			valid := false
			switch flags := buf[0]; {
			case flags&netHdrNeedsCsum != 0:
				// A partially checksummed packet (e.g. from a guest
				// on the same host): finish it like a NIC would.
				start := int(binary.LittleEndian.Uint16(buf[6:]))
				off := int(binary.LittleEndian.Uint16(buf[8:]))
				if start+off+2 <= len(frame) {
					finishChecksum(frame, start, off)
					valid = true
				}
			case flags&netHdrDataValid != 0:
				valid = true
			}
			n.Stats.RxFrames++
			n.rx(frame, valid)
		} else {
			n.Stats.RxErrors++
		}
		if err := n.postRx(slot); err == nil {
			posted = true
		}
	}
	if posted && n.rxq.NeedsNotify() {
		n.t.Notify(netRxQueue)
	}
}

// finishChecksum completes a partial checksum: the 16-bit one's-complement
// sum of frame[start:], which includes the pseudo-header sum already in
// the checksum field, complemented and stored at start+off.
func finishChecksum(frame []byte, start, off int) {
	var sum uint32
	b := frame[start:]
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(frame[start+off:], ^uint16(sum))
}
