// Package files assembles the program's file namespace and hands it to the
// system-call server: the image's packed root filesystem, read-only, at /
// (zero-copy from the image's read-only data), a tmpfs at /tmp, and the
// synthetic /dev, /proc and /sys. `stardust build` links a call to
// SetRootImage into every program, with the packed tree as its argument.
//
// Execution context: service context.
package files

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/devices"
	"github.com/stardust-go/stardust/kernel/drivers/virtio"
	"github.com/stardust-go/stardust/kernel/fs/imagefs"
	"github.com/stardust-go/stardust/kernel/fs/overlay"
	"github.com/stardust-go/stardust/kernel/fs/p9/p9fs"
	"github.com/stardust-go/stardust/kernel/fs/synthfs"
	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
	"github.com/stardust-go/stardust/kernel/services"
)

var start = time.Now()

// generated holds the files the kernel generates over the image (see
// SetGenerated).
var generated *overlay.FS

// SetGenerated places a generated, read-only file at path over the root
// image, e.g. /etc/resolv.conf from the network configuration. content is
// called at each lookup; while it reports !ok the image's own file (if
// any) shows.
func SetGenerated(path string, content func() ([]byte, bool)) {
	if generated != nil {
		generated.Set(path, content)
	}
}

// SetRootImage mounts the packed image (see image/rootfs) as / and installs
// the namespace. img must stay unchanged: it is the image's read-only data,
// used in place.
func SetRootImage(img string) {
	if err := setup(unsafe.Slice(unsafe.StringData(img), len(img))); err != nil {
		fmt.Fprintf(os.Stderr, "[stardust] files: %v; the program sees no files\n", err)
	}
}

func setup(img []byte) error {
	root, err := imagefs.New(img)
	if err != nil {
		return fmt.Errorf("the packed root filesystem is damaged: %w", err)
	}
	generated = overlay.New(root)
	v := vfs.New(generated, vfs.Options{ReadOnly: true})
	if err := v.Mount("/tmp", tmpfs.New(tmpfs.Options{}), 0); err != nil {
		return err
	}
	if err := v.Mount("/dev", synthfs.NewDev(randReader{}), 0); err != nil {
		return err
	}
	if err := v.Mount("/proc", synthfs.NewProc(facts), 0); err != nil {
		return err
	}
	if err := v.Mount("/sys", synthfs.NewSys(facts), 0); err != nil {
		return err
	}
	mountShares(v)
	mountDisks(v)
	services.SetFS(v)
	return nil
}

// mountShares mounts every host directory shared over virtio-9p (`stardust
// run -v HOSTDIR:GUESTDIR`): the device's mount tag is the guest path.
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

// facts describes the machine for /proc and /sys.
func facts() synthfs.Facts {
	var si syscall.Sysinfo_t
	syscall.Sysinfo(&si)
	host, _ := os.Hostname()
	exe := "/"
	if len(os.Args) > 0 {
		exe = "/" + strings.TrimPrefix(os.Args[0], "/")
	}
	return synthfs.Facts{
		Hostname:     host,
		NumCPU:       runtime.NumCPU(),
		CPUModel:     "Stardust virtual CPU",
		MemTotal:     uint64(si.Totalram) * uint64(si.Unit),
		MemFree:      uint64(si.Freeram) * uint64(si.Unit),
		MemAvailable: uint64(si.Freeram) * uint64(si.Unit),
		Exe:          exe,
		Cmdline:      os.Args,
		Environ:      os.Environ(),
		Uptime:       time.Since(start),
		Somaxconn:    4096,
	}
}

// randReader reads the kernel's generator with getrandom(2) (not through
// crypto/rand, which would link the crypto packages into every image).
type randReader struct{}

func (randReader) Read(p []byte) (int, error) {
	const sysGetrandom = 318
	for done := 0; done < len(p); {
		n, _, e := syscall.Syscall(sysGetrandom, uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done), 0)
		if e != 0 {
			return done, e
		}
		done += int(n)
	}
	return len(p), nil
}
