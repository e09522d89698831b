package boot_test

import (
	"net"
	"os"
	"testing"

	"github.com/stardust-go/stardust/vmm"
)

// TestNameResolution: -net-dns writes the guest's /etc/resolv.conf, and
// Go's pure-Go resolver in the guest asks that server (a tiny DNS server
// this test runs on the host's 127.0.0.1:53, which QEMU's user network
// shows the guest as 10.0.2.2). -hostname sets the guest's host name.
func TestNameResolution(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
	if err != nil {
		// Port 53 needs root; as root, a taken port is a failure.
		if os.Geteuid() == 0 {
			t.Fatalf("cannot run a DNS server on 127.0.0.1:53: %v", err)
		}
		t.Skipf("SKIPPED: cannot run a DNS server on 127.0.0.1:53 without root: %v", err)
	}
	defer pc.Close()
	go serveDNS(pc, net.IPv4(192, 0, 2, 7))
	b := run(t, image(t, "resolve"), vmm.Config{NetDNS: []string{"10.0.2.2"}, Hostname: "probe-7", Args: []string{"service.stardust.test"}})
	expectExit(t, b, 0)
	expectOutput(t, b, `resolv.conf: "nameserver 10.0.2.2" <nil>\nhostname: probe-7\naddrs: \[192.0.2.7\] <nil>`)
}

// serveDNS answers every A query with ip and every other query with no
// records (RFC 1035 §4.1: header, the question copied back, one answer
// whose name is a pointer to the question's).
func serveDNS(pc net.PacketConn, ip net.IP) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		if len(q) < 12 {
			continue
		}
		end := 12
		for end < len(q) && q[end] != 0 {
			end += int(q[end]) + 1
		}
		end += 5 // the root label, QTYPE, QCLASS
		if end > len(q) {
			continue
		}
		qtype := int(q[end-4])<<8 | int(q[end-3])
		resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:end]...)
		if qtype == 1 {
			resp[7] = 1
			resp = append(resp, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
			resp = append(resp, ip.To4()...)
		}
		pc.WriteTo(resp, from)
	}
}
