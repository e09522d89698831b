package synthfs_test

import (
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/synthfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

func read(t *testing.T, v *vfs.VFS, p string) string {
	t.Helper()
	d, err := v.OpenAt(nil, p, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	defer d.Close()
	buf := make([]byte, 64<<10)
	n, err := d.(fdesc.Positional).ReadAt(buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// Facts are read at open time, so a sethostname shows up in the next read.
func TestProcFactsAreLive(t *testing.T) {
	var mu sync.Mutex
	host := "one"
	proc := synthfs.NewProc(func() synthfs.Facts {
		mu.Lock()
		defer mu.Unlock()
		return synthfs.Facts{Hostname: host, Exe: "/bin/a-very-long-program-name", Pid: 7}
	})
	v := vfs.New(proc, vfs.Options{})
	if got := read(t, v, "/sys/kernel/hostname"); got != "one\n" {
		t.Fatalf("hostname %q", got)
	}
	mu.Lock()
	host = "two"
	mu.Unlock()
	if got := read(t, v, "/sys/kernel/hostname"); got != "two\n" {
		t.Fatalf("hostname after change %q", got)
	}
	if l, err := v.ReadlinkAt(nil, "/self"); l != "7" || err != nil {
		t.Errorf("/proc/self -> %q %v", l, err)
	}
	if got := read(t, v, "/self/comm"); got != "a-very-long-pro\n" {
		t.Errorf("comm %q (TASK_COMM_LEN is 16 with the NUL)", got)
	}
	if got := read(t, v, "/self/status"); !strings.Contains(got, "Pid:\t7\n") {
		t.Errorf("status %q", got)
	}
	var st syscall.Stat_t
	if err := v.StatAt(nil, "/meminfo", &st, 0); err != nil || st.Size != 0 || st.Mode != syscall.S_IFREG|0o444 {
		t.Errorf("stat meminfo: %v size %d mode %#o", err, st.Size, st.Mode)
	}
	var sf syscall.Statfs_t
	if err := v.StatfsAt(nil, "/", &sf); err != nil || sf.Type != synthfs.ProcMagic {
		t.Errorf("statfs type %#x %v", sf.Type, err)
	}
	if err := v.MkdirAt(nil, "/x", 0o755); err != syscall.EROFS {
		t.Errorf("mkdir in /proc: %v", err)
	}
}

func TestDevNumbers(t *testing.T) {
	v := vfs.New(synthfs.NewDev(strings.NewReader("")), vfs.Options{})
	for name, minor := range map[string]uint64{"null": 3, "zero": 5, "full": 7, "random": 8, "urandom": 9} {
		var st syscall.Stat_t
		if err := v.StatAt(nil, "/"+name, &st, 0); err != nil {
			t.Fatal(err)
		}
		if st.Rdev != 1<<8|minor || st.Mode != syscall.S_IFCHR|0o666 {
			t.Errorf("%s: rdev %#x mode %#o", name, st.Rdev, st.Mode)
		}
	}
	// An exhausted randomness source is EIO, never zeros.
	d, err := v.OpenAt(nil, "/urandom", syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(make([]byte, 8)); err != syscall.EIO {
		t.Errorf("read from empty source: %v", err)
	}
	if _, err := d.Write([]byte("x")); err != syscall.EBADF {
		t.Errorf("write on O_RDONLY: %v", err)
	}
}

// /proc and /sys are assembled on first use, not at boot: building them
// must not even ask for the facts.
func TestProcIsLazy(t *testing.T) {
	calls := 0
	facts := func() synthfs.Facts { calls++; return synthfs.Facts{NumCPU: 2} }
	proc, sys := synthfs.NewProc(facts), synthfs.NewSys(facts)
	if calls != 0 {
		t.Fatalf("facts read %d times before any lookup", calls)
	}
	if _, err := proc.Root().Lookup("self"); err != nil {
		t.Fatalf("lookup self: %v", err)
	}
	if calls == 0 {
		t.Errorf("the first lookup did not build /proc")
	}
	ents, err := sys.Root().ReadDir()
	if err != nil || len(ents) != 3 {
		t.Fatalf("/sys lists %v, %v; want devices, fs, kernel", ents, err)
	}
}
