package rootfs

import (
	"fmt"
	"os"
	"path"
	"strings"
)

// Defaults configures AddDefaults.
type Defaults struct {
	// Hostname is added to /etc/hosts next to localhost. Empty: "stardust".
	Hostname string
	// CABundle is the host path of a PEM file to install as
	// /etc/ssl/certs/ca-certificates.crt. Empty means the host's own
	// bundle, found where crypto/x509 looks for it on Linux; if the host
	// has none, no bundle is installed.
	CABundle string
	// NoCABundle leaves the CA bundle out even if the host has one.
	NoCABundle bool
	// Zoneinfo copies the host's time zone database (ZoneinfoDir, default
	// /usr/share/zoneinfo) to /usr/share/zoneinfo, where package time
	// looks for it.
	Zoneinfo    bool
	ZoneinfoDir string
	// Localtime, e.g. "Europe/Paris", installs that zone as /etc/localtime
	// (the zone Go uses for time.Local when TZ is unset). Empty: none, so
	// time.Local is UTC.
	Localtime string
	// Nameservers, if set, are written to /etc/resolv.conf.
	Nameservers []string
}

// hostCABundles are the files crypto/x509 reads on Linux, in its order.
var hostCABundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine
}

// AddDefaults adds the files an unmodified Go program expects to find:
// /etc/hosts and /etc/nsswitch.conf (so the pure-Go resolver consults
// /etc/hosts before DNS), /etc/passwd and /etc/group (so os/user knows
// root), the CA bundle, empty mount points (/tmp, /dev, /proc, /sys) and,
// when asked, the zone database, /etc/localtime and /etc/resolv.conf.
//
// Defaults never replace what is already in the builder, so call it after
// the user's trees have been added and their files win.
func (b *Builder) AddDefaults(o Defaults) error {
	host := o.Hostname
	if host == "" {
		host = "stardust"
	}
	files := []struct{ path, data string }{
		{"/etc/hosts", fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", host)},
		{"/etc/nsswitch.conf", "hosts: files dns\n"},
		{"/etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\n"},
		{"/etc/group", "root:x:0:\n"},
	}
	if len(o.Nameservers) > 0 {
		var sb strings.Builder
		for _, ns := range o.Nameservers {
			fmt.Fprintf(&sb, "nameserver %s\n", ns)
		}
		files = append(files, struct{ path, data string }{"/etc/resolv.conf", sb.String()})
	}
	for _, f := range files {
		if !b.Has(f.path) {
			if err := b.AddFile(f.path, []byte(f.data), 0o644); err != nil {
				return err
			}
		}
	}
	for _, d := range []struct {
		path string
		perm os.FileMode
	}{{"/tmp", 0o777 | os.ModeSticky}, {"/dev", 0o755}, {"/proc", 0o555}, {"/sys", 0o555}, {"/root", 0o700}} {
		if !b.Has(d.path) {
			if err := b.Mkdir(d.path, d.perm); err != nil {
				return err
			}
		}
	}

	if !o.NoCABundle && !b.Has("/etc/ssl/certs/ca-certificates.crt") {
		bundle := o.CABundle
		if bundle == "" {
			for _, c := range hostCABundles {
				if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
					bundle = c
					break
				}
			}
		}
		if bundle != "" {
			if err := b.AddHostFile(bundle, "/etc/ssl/certs/ca-certificates.crt"); err != nil {
				return fmt.Errorf("rootfs: CA bundle: %w", err)
			}
		}
	}

	zdir := o.ZoneinfoDir
	if zdir == "" {
		zdir = "/usr/share/zoneinfo"
	}
	if o.Zoneinfo && !b.Has("/usr/share/zoneinfo") {
		// Debian's database has a "localtime" link to /etc/localtime
		// and similar host-specific links; those are left out.
		saved := b.ExternalSymlinks
		b.ExternalSymlinks = SkipExternal
		err := b.AddDir(zdir, "/usr/share/zoneinfo")
		b.ExternalSymlinks = saved
		if err != nil {
			return err
		}
	}
	if o.Localtime != "" && !b.Has("/etc/localtime") {
		zone := path.Clean("/" + o.Localtime)[1:]
		if err := b.AddHostFile(path.Join(zdir, zone), "/etc/localtime"); err != nil {
			return fmt.Errorf("rootfs: time zone %q: %w", o.Localtime, err)
		}
	}
	return nil
}

// Has reports whether guest path p has been added (without following
// symlinks).
func (b *Builder) Has(p string) bool {
	elems, err := cleanGuest(p)
	if err != nil {
		return false
	}
	n := b.rootNode()
	for _, e := range elems {
		if n = n.children[e]; n == nil {
			return false
		}
	}
	return true
}
