// Package devices gives service-context drivers what they need from the
// kernel, in the shapes package virtio wants: the devices found at boot,
// their registers mapped uncached, device-visible memory, and a goroutine
// per interrupt line.
//
// Execution context: service context.
package devices

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/drivers/pci"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
)

// Virtio is a virtio device of either transport, found at boot (MMIO,
// from the kernel's device list) or on the PCI bus.
type Virtio struct {
	Name string // for messages
	mmio bridge.Device
	pci  *pci.Device
}

// VirtioDevices returns the virtio devices with device ID id: the
// virtio-mmio ones (microvm), then the virtio-pci ones (q35, pc).
func VirtioDevices(id uint32) []Virtio {
	var out []Virtio
	for _, d := range VirtioMMIO(id) {
		out = append(out, Virtio{Name: fmt.Sprintf("virtio-mmio@%#x", d.Phys), mmio: d})
	}
	for _, d := range PCIDevices() {
		if d.VendorID == pci.VendorVirtio && (uint32(d.DeviceID) == 0x1040+id || d.DeviceID < 0x1040 && uint32(d.SubsystemID) == id) {
			out = append(out, Virtio{Name: "virtio-pci " + d.Addr.String(), pci: d})
		}
	}
	return out
}

// Open maps the device's registers and opens its transport; the returned
// function starts the driver's interrupt handler (see ServeIRQ).
func (v Virtio) Open() (virtio.Transport, func(handle func()), error) {
	if v.pci != nil {
		tr, gsi, err := openPCI(v.pci)
		if err != nil {
			return nil, nil, err
		}
		return tr, func(h func()) { ServeIRQ(gsi, h) }, nil
	}
	tr, err := Transport(v.mmio)
	if err != nil {
		return nil, nil, err
	}
	return tr, func(h func()) { ServeIRQ(v.mmio.GSI, h) }, nil
}

// VirtioMMIO returns the virtio-mmio devices with the given device ID.
func VirtioMMIO(id uint32) []bridge.Device {
	var out []bridge.Device
	for _, d := range bridge.Devices() {
		if d.Kind == bridge.DevVirtioMMIO && d.ID == id {
			out = append(out, d)
		}
	}
	return out
}

// Transport maps d's registers and opens its virtio-mmio transport.
func Transport(d bridge.Device) (*virtio.MMIO, error) {
	va, err := bridge.MapMMIO(d.Phys, d.Size)
	if err != nil {
		return nil, fmt.Errorf("virtio device %d: mapping registers: %v", d.ID, err)
	}
	return virtio.NewMMIO(Registers(va))
}

// ServeIRQ calls handle after every interrupt on line gsi, forever: the
// driver's bottom half. The kernel masks a (level-triggered) I/O APIC line
// until the next IRQWait, so handle runs before the line can fire again;
// an MSI (edge) needs no masking.
func ServeIRQ(gsi uint32, handle func()) {
	go func() {
		var seen uint64
		for {
			n, err := bridge.IRQWait(gsi, seen)
			if err != nil {
				continue // EINTR: a signal for this thread
			}
			seen = n
			handle()
			// Let whoever handle made runnable (a reader of received
			// frames, a waiter for a finished request) run before this
			// thread blocks in IRQWait holding the P (see the same yield
			// in services.serve).
			runtime.Gosched()
		}
	}()
}

// DMA allocates device-visible memory from the kernel (virtio.Memory).
type DMA struct{}

// Alloc implements virtio.Memory.
func (DMA) Alloc(size, align int) ([]byte, uint64, error) {
	if align > 4096 {
		return nil, 0, fmt.Errorf("dma: alignment %d not supported", align)
	}
	return bridge.DMAAlloc(size)
}

// Registers accesses device registers mapped by the kernel. The accessors
// are not inlined, so the compiler cannot merge or drop loads and stores.
type Registers uintptr

//go:noinline
func (m Registers) Read8(off uint32) uint8 {
	return *(*uint8)(unsafe.Pointer(uintptr(m) + uintptr(off)))
}

//go:noinline
func (m Registers) Read16(off uint32) uint16 {
	return *(*uint16)(unsafe.Pointer(uintptr(m) + uintptr(off)))
}

//go:noinline
func (m Registers) Read32(off uint32) uint32 {
	return *(*uint32)(unsafe.Pointer(uintptr(m) + uintptr(off)))
}

//go:noinline
func (m Registers) Write8(off uint32, v uint8) {
	*(*uint8)(unsafe.Pointer(uintptr(m) + uintptr(off))) = v
}

//go:noinline
func (m Registers) Write16(off uint32, v uint16) {
	*(*uint16)(unsafe.Pointer(uintptr(m) + uintptr(off))) = v
}

//go:noinline
func (m Registers) Write32(off uint32, v uint32) {
	*(*uint32)(unsafe.Pointer(uintptr(m) + uintptr(off))) = v
}
