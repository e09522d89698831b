// Package shares mounts host directories shared over virtio-9p
// (`stardust run -v HOSTDIR:GUESTDIR`): the device's mount tag is the
// guest path. It is an optional part of an image: `stardust build -with
// shares` links it (and with it the 9P client and driver), as does
// `stardust run -v PKG`. Its init registers with package files, which
// mounts it in order.
//
// Execution context: service context.
package shares

import (
	"fmt"
	"os"
	"strings"

	"github.com/stardust-go/stardust/kernel/devices"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
	"github.com/stardust-go/stardust/kernel/files"
	"github.com/stardust-go/stardust/kernel/fs/p9/p9fs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

func init() {
	files.Register("shares", mountShares)
}

// mountShares mounts every host directory shared over virtio-9p.
func mountShares(v *vfs.VFS) {
	for _, d := range devices.VirtioDevices(virtio.DeviceID9P) {
		if err := mountShare(v, d); err != nil {
			fmt.Fprintf(os.Stderr, "[stardust] files: 9P share %s: %v\n", d.Name, err)
		}
	}
}

func mountShare(v *vfs.VFS, d devices.Virtio) error {
	tr, serve, err := d.Open()
	if err != nil {
		return err
	}
	drv, err := virtio.NewP9(tr, devices.DMA{}, virtio.P9Options{})
	if err != nil {
		return err
	}
	serve(drv.HandleInterrupt)
	guest := drv.MountTag()
	if !strings.HasPrefix(guest, "/") {
		return fmt.Errorf("mount tag %q is not an absolute guest path", guest)
	}
	fs, err := p9fs.Dial(drv, p9fs.Options{})
	if err != nil {
		return fmt.Errorf("%s: %v", guest, err)
	}
	return v.Mount(guest, fs, 0)
}
