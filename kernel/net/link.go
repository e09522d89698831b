package net

import (
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Device is an Ethernet network interface as the socket layer sees it. The
// virtio-net driver implements it; the tests implement it with a pair of
// devices joined by a simulated wire.
//
// The method set uses only basic types on purpose: the driver package does
// not need to import this one to satisfy it.
type Device interface {
	// MAC returns the interface's Ethernet address.
	MAC() [6]byte
	// MTU returns the largest IP packet (without the 14-byte Ethernet
	// header) the interface carries, normally 1500.
	MTU() int
	// Transmit sends one Ethernet frame, header included. The device must
	// have copied frame before it returns. csumStart and csumOffset ask for
	// checksum offload as virtio-net's NEEDS_CSUM does (the device sums
	// frame[csumStart:] and stores the result at csumStart+csumOffset);
	// csumOffset 0 means the frame is complete. Transmit blocks while the
	// device's transmit queue is full -- this back-pressure is how a full
	// ring slows the stack down instead of dropping frames -- and returns
	// an error only when the device can no longer send at all.
	Transmit(frame []byte, csumStart, csumOffset int) error
	// SetReceiver installs the function the driver calls, from its own
	// goroutine, for every received frame. frame is only valid during the
	// call. csumValid reports that the device has verified the transport
	// checksum (virtio-net's DATA_VALID), so the stack need not.
	SetReceiver(rx func(frame []byte, csumValid bool))
}

// linkEndpoint adapts a Device to netstack's stack.LinkEndpoint. It does
// the Ethernet framing itself: netstack asks for a header to be pushed on
// the way out (AddHeader) and parsed on the way in (ParseHeader).
type linkEndpoint struct {
	dev Device

	mu         sync.RWMutex
	mtu        uint32
	addr       tcpip.LinkAddress
	dispatcher stack.NetworkDispatcher
	onClose    func()

	acks *ackDelayer // delayed ACKs (see ackdelay.go)
}

var _ stack.LinkEndpoint = (*linkEndpoint)(nil)

func newLinkEndpoint(dev Device) *linkEndpoint {
	mac := dev.MAC()
	e := &linkEndpoint{
		dev:  dev,
		mtu:  uint32(dev.MTU()),
		addr: tcpip.LinkAddress(mac[:]),
	}
	e.acks = newAckDelayer(dev.MTU(), func(frame []byte) error { return dev.Transmit(frame, 0, 0) })
	dev.SetReceiver(e.receive)
	return e
}

func (e *linkEndpoint) MTU() uint32 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.mtu
}

func (e *linkEndpoint) SetMTU(mtu uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mtu = mtu
}

func (e *linkEndpoint) MaxHeaderLength() uint16 { return header.EthernetMinimumSize }

func (e *linkEndpoint) LinkAddress() tcpip.LinkAddress {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.addr
}

func (e *linkEndpoint) SetLinkAddress(addr tcpip.LinkAddress) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addr = addr
}

// Capabilities: the stack must resolve link addresses (ARP, NDP) because
// this is Ethernet. Checksums are computed by the stack on transmit; see
// docs/net.md for why TX offload is not enabled yet. Received packets are
// marked validated one by one when the device says so.
func (e *linkEndpoint) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired
}

func (e *linkEndpoint) Attach(d stack.NetworkDispatcher) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dispatcher = d
}

func (e *linkEndpoint) IsAttached() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.dispatcher != nil
}

func (e *linkEndpoint) Wait() {}

func (e *linkEndpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader prepends the Ethernet header. The route has already resolved
// the destination MAC (or chosen a broadcast/multicast one).
func (e *linkEndpoint) AddHeader(pkt *stack.PacketBuffer) {
	src := pkt.EgressRoute.LocalLinkAddress
	if src == "" {
		src = e.LinkAddress()
	}
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	eth.Encode(&header.EthernetFields{
		SrcAddr: src,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

// ParseHeader consumes the Ethernet header of an inbound packet and records
// which network protocol the payload is.
func (e *linkEndpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	hdr, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	if !ok {
		return false
	}
	pkt.NetworkProtocolNumber = header.Ethernet(hdr).Type()
	return true
}

func (e *linkEndpoint) Close() {
	e.mu.Lock()
	fn := e.onClose
	e.mu.Unlock()
	if fn != nil {
		fn()
	}
}

func (e *linkEndpoint) SetOnCloseAction(fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onClose = fn
}

// WritePackets sends each packet as one frame. The frame is flattened into
// a single slice because the device copies it into its own DMA buffer
// anyway. A Transmit error stops the batch; netstack counts the rest as
// dropped, which is the correct outcome for a dead device.
func (e *linkEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := 0
	for _, pkt := range pkts.AsSlice() {
		frame := make([]byte, 0, pkt.Size())
		for _, s := range pkt.AsSlices() {
			frame = append(frame, s...)
		}
		if !e.acks.filter(frame) {
			n++ // held back: sent later, or made redundant by the next segment
			continue
		}
		if err := e.dev.Transmit(frame, 0, 0); err != nil {
			if n == 0 {
				return 0, &tcpip.ErrClosedForSend{}
			}
			break
		}
		n++
	}
	return n, nil
}

// receive is the Device's receive callback: it wraps the frame in a packet
// buffer (copying it, since the driver reuses its buffer) and hands it to
// the stack.
func (e *linkEndpoint) receive(frame []byte, csumValid bool) {
	e.mu.RLock()
	d := e.dispatcher
	mac := e.addr
	e.mu.RUnlock()
	if d == nil || len(frame) < header.EthernetMinimumSize {
		return
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{
		Payload: buffer.MakeWithData(frame),
	})
	defer pkt.DecRef()
	if !e.ParseHeader(pkt) {
		return
	}
	pkt.RXChecksumValidated = csumValid
	dst := header.Ethernet(pkt.LinkHeader().Slice()).DestinationAddress()
	switch {
	case dst == header.EthernetBroadcastAddress:
		pkt.PktType = tcpip.PacketBroadcast
	case header.IsMulticastEthernetAddress(dst):
		pkt.PktType = tcpip.PacketMulticast
	case dst == mac:
		pkt.PktType = tcpip.PacketHost
	default:
		pkt.PktType = tcpip.PacketOtherHost
	}
	d.DeliverNetworkPacket(pkt.NetworkProtocolNumber, pkt)
}
