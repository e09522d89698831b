package files

import (
	"fmt"
	"os"
	"sync"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// Optional parts: ext4 volumes (package kernel/disks) and 9P shares
// (kernel/shares) are linked only into images built with `stardust build
// -with disks,shares` (or `stardust run` with -disk or -v). With their
// drivers they added 635 KiB to every image, so this package imports
// neither: each part's init calls Register.
//
// The part packages import this one, so their inits run after its own
// (SetRootImage), in an order Go derives from import paths, not the one
// the mounts need (a disk may be mounted inside a share). So stardust
// build also passes SetRootImage the names of the parts it linked, and
// the mounts wait until every linked part that comes earlier in
// partOrder has registered. The same list tells which devices no linked
// part drives, so the console can say why they are ignored.

// partOrder is the order in which the parts mount: shares first, then
// disks, as before they were optional.
var partOrder = []struct {
	name   string // as `stardust build -with` spells it
	device uint32 // the virtio device it drives
	what   string // for the message about an ignored device
}{
	{"shares", virtio.DeviceID9P, "virtio-9p share"},
	{"disks", virtio.DeviceIDBlock, "virtio-blk disk"},
}

// parts tracks which parts the image links and which have mounted.
type parts struct {
	mu      sync.Mutex
	v       *vfs.VFS                  // the namespace (nil if the root image is damaged)
	linked  map[string]bool           // announced by SetRootImage
	mounts  map[string]func(*vfs.VFS) // registered by the parts' inits
	mounted map[string]bool
}

var theParts parts

// Register adds the optional part name ("disks" or "shares"): mount is
// called once, with the namespace, when the parts before it in the mount
// order have mounted. Call it from the part package's init.
func Register(name string, mount func(v *vfs.VFS)) {
	known := false
	for _, p := range partOrder {
		known = known || p.name == name
	}
	if !known {
		panic("files: Register of unknown part " + name)
	}
	theParts.register(name, mount)
}

// setup records the namespace and the parts stardust build linked.
func (ps *parts) setup(v *vfs.VFS, linked []string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.v = v
	ps.linked = map[string]bool{}
	for _, n := range linked {
		ps.linked[n] = true
	}
}

func (ps *parts) register(name string, mount func(*vfs.VFS)) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.mounts == nil {
		ps.mounts = map[string]func(*vfs.VFS){}
		ps.mounted = map[string]bool{}
	}
	ps.mounts[name] = mount
	// Mount, in order, every registered part not preceded by a linked one
	// that has yet to register. A part nobody announced (a program that
	// imports it itself, a test) mounts at once.
	for _, p := range partOrder {
		m, ok := ps.mounts[p.name]
		switch {
		case ps.mounted[p.name]:
		case !ok && ps.linked[p.name]:
			return // its init has not run yet; it mounts what follows
		case ok:
			ps.mounted[p.name] = true
			if ps.v != nil {
				m(ps.v)
			}
		}
	}
}

// reportIgnored prints one line per device that no linked part drives:
// without it, a `-disk` given to an image built without disks would just
// be missing from the namespace. list names the devices with a virtio
// device ID: the virtio-mmio ones the kernel found at boot (mmioDevices,
// from SetRootImage), or the virtio-pci ones (from package devices,
// through ReportIgnoredPCI, when an image links it: scanning PCI is its
// job, and hello does not link it).
func (ps *parts) reportIgnored(list func(id uint32) []string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range partOrder {
		if ps.linked[p.name] {
			continue
		}
		for _, name := range list(p.device) {
			fmt.Fprintf(os.Stderr, "[stardust] files: %s %s ignored: this image was built without %s (stardust build -with %s)\n",
				p.what, name, p.name, p.name)
		}
	}
}

// ReportIgnoredPCI reports the virtio-pci devices no linked part drives;
// list names the devices with a virtio device ID. Package devices calls it
// from its init, which runs after this package's (it imports it).
func ReportIgnoredPCI(list func(id uint32) []string) { theParts.reportIgnored(list) }

// mmioDevices names the virtio-mmio devices with device ID id that the
// kernel found at boot.
func mmioDevices(id uint32) []string {
	var out []string
	for _, d := range bridge.Devices() {
		if d.Kind == bridge.DevVirtioMMIO && d.ID == id {
			out = append(out, fmt.Sprintf("virtio-mmio@%#x", d.Phys))
		}
	}
	return out
}
