// Package disks mounts persistent ext4 volumes (`stardust run -disk
// FILE:GUESTPATH`). It is an optional part of an image: `stardust build
// -with disks` links it (and with it ext4, its journal and the virtio-blk
// driver, a sixth of a small image), as does `stardust run -disk PKG`.
// Its init registers with package files, which mounts it in order.
//
// Each -disk is a virtio-blk device with serial "diskN" and the kernel
// option disk.diskN=GUESTPATH; each holds an ext4 file system, mounted
// there read-write (read-only with a message if it has features Stardust
// does not write). A goroutine commits the journal every few seconds, so
// a crash loses at most that much of what was not fsynced.
//
// Execution context: service context.
package disks

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/devices"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
	"github.com/stardust-go/stardust/kernel/files"
	"github.com/stardust-go/stardust/kernel/fs/ext4"
	"github.com/stardust-go/stardust/kernel/fs/ext4fs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

const commitEvery = 5 * time.Second

func init() {
	files.Register("disks", mountDisks)
}

func mountDisks(v *vfs.VFS) {
	paths := map[string]string{}
	for _, w := range strings.Fields(bridge.KernelOptions()) {
		if k, val, ok := strings.Cut(w, "="); ok && strings.HasPrefix(k, "disk.") {
			paths[strings.TrimPrefix(k, "disk.")] = val
		}
	}
	for _, d := range devices.VirtioDevices(virtio.DeviceIDBlock) {
		if err := mountDisk(v, d, paths); err != nil {
			fmt.Fprintf(os.Stderr, "[stardust] files: disk %s: %v\n", d.Name, err)
		}
	}
}

func mountDisk(v *vfs.VFS, d devices.Virtio, paths map[string]string) error {
	tr, serve, err := d.Open()
	if err != nil {
		return err
	}
	blk, err := virtio.NewBlock(tr, devices.DMA{}, virtio.BlockOptions{})
	if err != nil {
		return err
	}
	serve(blk.HandleInterrupt)
	id, err := blk.ID()
	if err != nil {
		return fmt.Errorf("reading the disk's serial: %v", err)
	}
	guest, ok := paths[id]
	if !ok {
		return fmt.Errorf("disk %q has no mount point (kernel option disk.%s=PATH)", id, id)
	}
	fs, err := ext4.Mount(blk, ext4.Options{Log: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[stardust] ext4 %s: "+format+"\n", append([]any{guest}, args...)...)
	}})
	if err != nil {
		return fmt.Errorf("%s: %v", guest, err)
	}
	// A sleep loop rather than time.Tick: a chan time.Time would link
	// time's formatting code into the image.
	go func() {
		for {
			time.Sleep(time.Second)
			fs.CommitIfOlderThan(commitEvery)
		}
	}()
	var flags vfs.MountFlags
	if ro, _ := fs.ReadOnly(); ro {
		flags |= vfs.MountReadOnly
	}
	return v.Mount(guest, ext4fs.New(fs), flags)
}
