package virtio

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// fakePCINet is a virtio-net model for the generic device: it records
// transmitted frames and holds receive buffers for deliver.
type fakePCINet struct {
	mu   sync.Mutex
	sent [][]byte
}

func (m *fakePCINet) holds(q int) bool { return q == netRxQueue }

func (m *fakePCINet) serve(d *fakeDev, q int, c chain) uint32 {
	var data []byte
	for _, b := range c.bufs {
		data = append(data, d.bytesOf(b)...)
	}
	m.mu.Lock()
	m.sent = append(m.sent, data[12:]) // strip the 1.x header
	m.mu.Unlock()
	return 0
}

// The existing virtio-net driver runs unchanged on the PCI transport.
func TestNetOverPCI(t *testing.T) {
	mem := newFakeMem()
	m := &fakePCINet{}
	d := newFakeDev(t, mem, DeviceIDNet, 1<<NetFMAC|1<<NetFCsum, 2, m)
	d.setConfig([]byte{0x52, 0x54, 0, 0xab, 0xcd, 0xef})
	tr, _ := newTestPCI(t, d, 0)
	nic, err := NewNet(tr, mem)
	if err != nil {
		t.Fatal(err)
	}
	irqPump(t, d, nic.HandleInterrupt)
	if nic.MAC() != [6]byte{0x52, 0x54, 0, 0xab, 0xcd, 0xef} {
		t.Errorf("MAC %x", nic.MAC())
	}
	got := make(chan []byte, 1)
	nic.SetReceiver(func(frame []byte, _ bool) { got <- bytes.Clone(frame) })

	frame := append(bytes.Repeat([]byte{0xff}, 12), 0x08, 0x06, 1, 2, 3, 4)
	if err := nic.Transmit(frame, 0, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		n := len(m.sent)
		m.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("frame never transmitted")
		}
		time.Sleep(time.Millisecond)
	}
	if !bytes.Equal(m.sent[0], frame) {
		t.Errorf("sent %x", m.sent[0])
	}

	in := append(make([]byte, 12), frame...) // zero virtio_net_hdr, then the frame
	if !d.deliver(netRxQueue, in) {
		t.Fatal("no receive buffer posted")
	}
	select {
	case f := <-got:
		if !bytes.Equal(f, frame) {
			t.Errorf("received %x", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("frame never received")
	}
	d.checkClean(t)
}
