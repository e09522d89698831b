package files

import (
	"reflect"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

// The parts mount in partOrder (shares, then disks) whatever order their
// inits register in, as long as stardust build announced them; a part
// nobody announced mounts when it registers.
func TestPartsMountInOrder(t *testing.T) {
	v := vfs.New(tmpfs.New(tmpfs.Options{}), vfs.Options{})
	var mounted []string
	mount := func(name string) func(*vfs.VFS) {
		return func(got *vfs.VFS) {
			if got != v {
				t.Errorf("%s: mounted into the wrong namespace", name)
			}
			mounted = append(mounted, name)
		}
	}

	var ps parts
	ps.setup(v, []string{"disks", "net", "shares"})
	ps.register("disks", mount("disks"))
	if len(mounted) != 0 {
		t.Fatalf("disks mounted before shares registered: %q", mounted)
	}
	ps.register("shares", mount("shares"))
	if want := []string{"shares", "disks"}; !reflect.DeepEqual(mounted, want) {
		t.Fatalf("mounted %q, want %q", mounted, want)
	}

	mounted = nil
	var alone parts
	alone.setup(v, nil)
	alone.register("disks", mount("disks"))
	if want := []string{"disks"}; !reflect.DeepEqual(mounted, want) {
		t.Fatalf("unannounced part: mounted %q, want %q", mounted, want)
	}

	// Without a namespace (a damaged root image) nothing mounts.
	mounted = nil
	var broken parts
	broken.setup(nil, []string{"shares"})
	broken.register("shares", mount("shares"))
	if len(mounted) != 0 {
		t.Fatalf("mounted %q without a namespace", mounted)
	}
}
