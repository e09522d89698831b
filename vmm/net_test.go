package vmm

import (
	"strings"
	"testing"
)

func TestStaticNetOptions(t *testing.T) {
	c := Config{Net: "user", NetIP: "192.168.7.9/24", NetGW: "192.168.7.1", NetDNS: []string{"1.1.1.1", "2606:4700::1111"}, Hostname: "web-1"}
	_, opts, err := c.network()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(opts, " "); got != "net.ip=192.168.7.9/24 net.gw=192.168.7.1 net.dns=1.1.1.1 net.dns=2606:4700::1111 hostname=web-1" {
		t.Fatalf("options %q", got)
	}
	// The user network's defaults, with a DNS flag replacing QEMU's.
	c = Config{Net: "user", NetDNS: []string{"10.0.2.2"}}
	if _, opts, _ := c.network(); strings.Join(opts, " ") != "net.ip=10.0.2.15/24 net.gw=10.0.2.2 net.dns=10.0.2.2" {
		t.Fatalf("defaults %q", opts)
	}
	for _, bad := range []Config{
		{Net: "user", NetIP: "192.168.7.9"},
		{Net: "user", NetGW: "192.168.7.1"},
		{Net: "user", NetIP: "10.0.0.2/8", NetGW: "gateway"},
		{Net: "user", NetDNS: []string{"dns.google"}},
		{Net: "user", Hostname: "has space"},
		{Net: "user", Hostname: strings.Repeat("a", 64)},
	} {
		if _, _, err := bad.network(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
