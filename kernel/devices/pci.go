package devices

import (
	"fmt"
	"sync"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/drivers/pci"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
)

// PCI: on q35 and pc, virtio devices are PCI functions. Firmware (SeaBIOS
// runs before the PVH entry on those machines) has assigned their BARs;
// the pci package scans configuration space through the kernel's
// PCIConfig call, and each function interrupts through one MSI-X vector
// the kernel hands out, so no INTx routing (and no ACPI _PRT) is needed.

type configSpace struct{}

func (configSpace) Read32(bus, dev, fn uint8, off uint16) uint32 {
	return bridge.PCIConfigRead(bus, dev, fn, off)
}

func (configSpace) Write32(bus, dev, fn uint8, off uint16, v uint32) {
	bridge.PCIConfigWrite(bus, dev, fn, off, v)
}

var (
	scanOnce sync.Once
	pciDevs  []*pci.Device
)

// PCIDevices returns the PCI functions (scanned once; none on microvm).
func PCIDevices() []*pci.Device {
	scanOnce.Do(func() { pciDevs = pci.Scan(configSpace{}) })
	return pciDevs
}

// mapBAR maps a memory BAR of d uncached.
func mapBAR(d *pci.Device, i int) (Registers, error) {
	b, ok := d.BAR(i)
	if !ok || b.Addr == 0 {
		return 0, fmt.Errorf("%s: BAR %d is not assigned", d.Addr, i)
	}
	if b.Kind == pci.BARIO {
		return 0, fmt.Errorf("%s: BAR %d is an I/O port range (only memory BARs are supported)", d.Addr, i)
	}
	va, err := bridge.MapMMIO(b.Addr, b.Size)
	if err != nil {
		return 0, fmt.Errorf("%s: mapping BAR %d: %v", d.Addr, i, err)
	}
	return Registers(va), nil
}

// openPCI opens the virtio-pci transport of d with one MSI-X vector for
// its configuration changes and all its queues, and returns it with the
// interrupt's GSI for ServeIRQ.
func openPCI(d *pci.Device) (virtio.Transport, uint32, error) {
	if d.MSIX == nil {
		return nil, 0, fmt.Errorf("%s: no MSI-X capability", d.Addr)
	}
	var mapped = map[int]Registers{}
	bar := func(i int) (Registers, error) {
		if r, ok := mapped[i]; ok {
			return r, nil
		}
		r, err := mapBAR(d, i)
		if err == nil {
			mapped[i] = r
		}
		return r, err
	}
	tr, err := virtio.NewPCI(d, func(i int) (virtio.PCIRegisters, error) { return bar(i) })
	if err != nil {
		return nil, 0, err
	}
	gsi, apic, vector, err := bridge.MSIAlloc()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: no MSI vector left: %v", d.Addr, err)
	}
	table, err := bar(d.MSIX.TableBAR)
	if err != nil {
		return nil, 0, err
	}
	if err := d.MSIX.SetEntry(table, 0, pci.X86MSIAddress(apic), uint32(vector)); err != nil {
		return nil, 0, err
	}
	tr.UseMSIX(0, func(int) uint16 { return 0 })
	d.SetINTx(false)
	if err := d.SetMSIX(true); err != nil {
		return nil, 0, err
	}
	return tr, gsi, nil
}
