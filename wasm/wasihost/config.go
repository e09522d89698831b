package wasihost

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// Port maps a host TCP address to the port the program listens on.
type Port struct {
	HostAddr  string // host:port to listen on; port 0 picks a free one
	GuestPort int
}

// Mount makes a host directory visible to the program.
type Mount struct {
	HostDir, GuestDir string
	ReadOnly          bool
}

// Config describes one run.
type Config struct {
	Args   []string // argv, Args[0] being the program name
	Env    []string // KEY=VALUE
	Ports  []Port
	Mounts []Mount
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// CacheDir holds wazero's compiled code between runs; "" means the
	// user's cache directory (compiling a Go module takes seconds).
	CacheDir string
}

// ParsePort parses -p: "HOSTPORT:GUESTPORT" (on 127.0.0.1) or
// "HOSTIP:HOSTPORT:GUESTPORT". UDP is not supported by this target.
func ParsePort(s string) (Port, error) {
	if strings.HasSuffix(s, "/udp") {
		return Port{}, fmt.Errorf("port %q: the wasi target supports only TCP", s)
	}
	s = strings.TrimSuffix(s, "/tcp")
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return Port{}, fmt.Errorf("port %q: want HOSTPORT:GUESTPORT", s)
	}
	host, guest := s[:i], s[i+1:]
	gp, err := strconv.Atoi(guest)
	if err != nil || gp <= 0 || gp > 65535 {
		return Port{}, fmt.Errorf("port %q: bad guest port %q", s, guest)
	}
	if !strings.Contains(host, ":") {
		host = net.JoinHostPort("127.0.0.1", host)
	}
	if _, p, err := net.SplitHostPort(host); err != nil {
		return Port{}, fmt.Errorf("port %q: %v", s, err)
	} else if _, err := strconv.Atoi(p); err != nil {
		return Port{}, fmt.Errorf("port %q: bad host port %q", s, p)
	}
	return Port{HostAddr: host, GuestPort: gp}, nil
}

// ParseMount parses -v: "HOSTDIR:GUESTDIR[:ro]".
func ParseMount(s string) (Mount, error) {
	parts := strings.Split(s, ":")
	m := Mount{}
	if len(parts) == 3 && parts[2] == "ro" {
		m.ReadOnly = true
		parts = parts[:2]
	}
	if len(parts) != 2 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
		return Mount{}, fmt.Errorf("volume %q: want HOSTDIR:/GUESTDIR[:ro]", s)
	}
	if fi, err := os.Stat(parts[0]); err != nil {
		return Mount{}, fmt.Errorf("volume %q: %v", s, err)
	} else if !fi.IsDir() {
		return Mount{}, fmt.Errorf("volume %q: %s is not a directory", s, parts[0])
	}
	m.HostDir, m.GuestDir = parts[0], parts[1]
	return m, nil
}
