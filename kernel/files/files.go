// Package files assembles the program's file namespace and hands it to the
// system-call server: the image's packed root filesystem, read-only, at /
// (zero-copy from the image's read-only data), a tmpfs at /tmp, and the
// synthetic /dev, /proc and /sys. `stardust build` links a call to
// SetRootImage into every program, with the packed tree as its argument.
// Volumes and host shares are optional parts of an image that register
// here (see parts.go).
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

	"github.com/stardust-go/stardust/kernel/fs/imagefs"
	"github.com/stardust-go/stardust/kernel/fs/overlay"
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
// used in place. linked names the optional parts stardust build linked
// into the image ("disks", "shares", "net"): they mount when they
// Register, and devices meant for a part the image lacks are reported.
func SetRootImage(img string, linked ...string) {
	v, err := setup(unsafe.Slice(unsafe.StringData(img), len(img)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "[stardust] files: %v; the program sees no files\n", err)
	}
	theParts.setup(v, linked)
	theParts.reportIgnored(mmioDevices)
}

func setup(img []byte) (*vfs.VFS, error) {
	root, err := imagefs.New(img)
	if err != nil {
		return nil, fmt.Errorf("the packed root filesystem is damaged: %w", err)
	}
	generated = overlay.New(root)
	v := vfs.New(generated, vfs.Options{ReadOnly: true})
	v.Umask(0) // the kernel applies the program's umask to the modes it forwards
	if err := v.Mount("/tmp", tmpfs.New(tmpfs.Options{}), 0); err != nil {
		return nil, err
	}
	if err := v.Mount("/dev", synthfs.NewDev(randReader{}), 0); err != nil {
		return nil, err
	}
	if err := v.Mount("/proc", synthfs.NewProc(facts), 0); err != nil {
		return nil, err
	}
	if err := v.Mount("/sys", synthfs.NewSys(facts), 0); err != nil {
		return nil, err
	}
	services.SetFS(v)
	return v, nil
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
