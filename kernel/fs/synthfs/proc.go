package synthfs

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Facts are what /proc and /sys report. The kernel passes a function that
// returns them, called each time a file is opened, so changing values
// (free memory, the hostname after sethostname) are current.
type Facts struct {
	Pid        int // default 1
	Hostname   string
	Domainname string // default "(none)", as Linux
	OSRelease  string // uname -r
	Version    string // uname -v
	Somaxconn  int    // default 4096, Linux's since 5.4

	NumCPU    int
	CPUVendor string // "vendor_id", e.g. "GenuineIntel"
	CPUModel  string // "model name" in /proc/cpuinfo
	CPUMHz    float64
	CPUFlags  string // space-separated, e.g. "fpu sse2 avx2"

	MemTotal     uint64 // bytes
	MemFree      uint64
	MemAvailable uint64

	Exe     string   // /proc/self/exe target
	Cmdline []string // /proc/self/cmdline
	Environ []string // /proc/self/environ
	Uptime  time.Duration
}

func (f Facts) withDefaults() Facts {
	if f.Pid == 0 {
		f.Pid = 1
	}
	if f.Domainname == "" {
		f.Domainname = "(none)"
	}
	if f.Somaxconn == 0 {
		f.Somaxconn = 4096
	}
	if f.NumCPU == 0 {
		f.NumCPU = 1
	}
	if f.OSRelease == "" {
		f.OSRelease = "6.1.0-stardust"
	}
	return f
}

// NewProc returns a /proc with the entries Go programs and their
// libraries read:
//
//	/proc/self -> <pid>, /proc/<pid>/{exe,cmdline,environ,comm,status}
//	/proc/sys/kernel/{hostname,domainname,osrelease,ostype,version}
//	/proc/sys/net/core/somaxconn
//	/proc/{meminfo,cpuinfo,uptime,version,filesystems}
//
// /proc/self/cgroup and /proc/self/mountinfo are deliberately absent
// (ENOENT): Go's runtime then assumes no cgroup CPU limit, which is
// correct for a unikernel.
func NewProc(facts func() Facts) *Tree {
	return NewLazy(ProcMagic, func(t *Tree) { buildProc(t, facts) })
}

func buildProc(t *Tree, facts func() Facts) {
	get := func() Facts { return facts().withDefaults() }
	root := t.RootDir()
	pid := strconv.Itoa(get().Pid)
	text := func(d *Dir, name string, gen func(Facts) string) {
		t.File(d, name, 0o444, func() []byte { return []byte(gen(get())) })
	}

	t.Symlink(root, "self", func() string { return pid })
	t.Symlink(root, "thread-self", func() string { return pid + "/task/" + pid })
	p := t.Dir(root, pid)
	t.Symlink(p, "exe", func() string { return get().Exe })
	text(p, "cmdline", func(f Facts) string { return nulList(f.Cmdline) })
	text(p, "environ", func(f Facts) string { return nulList(f.Environ) })
	text(p, "comm", func(f Facts) string { return comm(f.Exe) + "\n" })
	text(p, "status", func(f Facts) string {
		return fmt.Sprintf("Name:\t%s\nState:\tR (running)\nTgid:\t%d\nPid:\t%d\nPPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThreads:\t1\n", comm(f.Exe), f.Pid, f.Pid)
	})
	t.Dir(t.Dir(p, "task"), pid)

	k := t.Path(root, "sys", "kernel")
	text(k, "hostname", func(f Facts) string { return f.Hostname + "\n" })
	text(k, "domainname", func(f Facts) string { return f.Domainname + "\n" })
	text(k, "osrelease", func(f Facts) string { return f.OSRelease + "\n" })
	text(k, "ostype", func(Facts) string { return "Linux\n" })
	text(k, "version", func(f Facts) string { return f.Version + "\n" })
	text(t.Path(root, "sys", "net", "core"), "somaxconn", func(f Facts) string { return strconv.Itoa(f.Somaxconn) + "\n" })

	text(root, "meminfo", meminfo)
	text(root, "cpuinfo", cpuinfo)
	text(root, "uptime", func(f Facts) string {
		s := f.Uptime.Seconds()
		return fmt.Sprintf("%.2f %.2f\n", s, s*float64(f.NumCPU))
	})
	text(root, "version", func(f Facts) string {
		return fmt.Sprintf("Linux version %s (stardust) %s\n", f.OSRelease, f.Version)
	})
	text(root, "filesystems", func(Facts) string { return "nodev\ttmpfs\nnodev\tproc\nnodev\tsysfs\n\text4\n" })
}

func nulList(items []string) string {
	var sb strings.Builder
	for _, s := range items {
		sb.WriteString(s)
		sb.WriteByte(0)
	}
	return sb.String()
}

// comm is the task name: the executable's base name, at most 15 bytes.
func comm(exe string) string {
	c := path.Base(exe)
	if exe == "" {
		c = "init"
	}
	if len(c) > 15 {
		c = c[:15]
	}
	return c
}

func meminfo(f Facts) string {
	kb := func(b uint64) uint64 { return b / 1024 }
	var sb strings.Builder
	for _, l := range []struct {
		name string
		val  uint64
	}{
		{"MemTotal", kb(f.MemTotal)}, {"MemFree", kb(f.MemFree)}, {"MemAvailable", kb(f.MemAvailable)},
		{"Buffers", 0}, {"Cached", 0}, {"SwapCached", 0}, {"SwapTotal", 0}, {"SwapFree", 0},
	} {
		fmt.Fprintf(&sb, "%-16s%8d kB\n", l.name+":", l.val)
	}
	sb.WriteString("HugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\n")
	return sb.String()
}

func cpuinfo(f Facts) string {
	var sb strings.Builder
	for i := 0; i < f.NumCPU; i++ {
		fmt.Fprintf(&sb, "processor\t: %d\nvendor_id\t: %s\nmodel name\t: %s\ncpu MHz\t\t: %.3f\nphysical id\t: 0\nsiblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\napicid\t\t: %d\nflags\t\t: %s\n\n",
			i, f.CPUVendor, f.CPUModel, f.CPUMHz, f.NumCPU, i, f.NumCPU, i, f.CPUFlags)
	}
	return sb.String()
}

// NewSys returns a /sys with the CPU topology files runtimes read
// (/sys/devices/system/cpu/{online,possible,present}). Transparent huge
// page settings are absent: Go then leaves huge pages alone.
func NewSys(facts func() Facts) *Tree {
	return NewLazy(SysfsMagic, func(t *Tree) { buildSys(t, facts) })
}

func buildSys(t *Tree, facts func() Facts) {
	cpu := t.Path(t.RootDir(), "devices", "system", "cpu")
	list := func() []byte {
		n := facts().withDefaults().NumCPU
		if n == 1 {
			return []byte("0\n")
		}
		return []byte(fmt.Sprintf("0-%d\n", n-1))
	}
	for _, name := range []string{"online", "possible", "present"} {
		t.File(cpu, name, 0o444, list)
	}
	t.Path(t.RootDir(), "kernel", "mm")
	t.Dir(t.RootDir(), "fs")
}
