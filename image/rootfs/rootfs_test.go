package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func pack(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Pack(&buf, entries...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustParse(t testing.TB, b []byte) *Image {
	t.Helper()
	im, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

var mtime = time.Date(2024, 5, 1, 12, 0, 0, 123, time.UTC)

func sampleEntries() []Entry {
	return []Entry{
		{Path: "/etc/hosts", Mode: 0o644, Data: []byte("127.0.0.1 localhost\n"), ModTime: mtime},
		{Path: "/etc/empty", Mode: 0o600},
		{Path: "/bin/tool", Mode: 0o755 | fs.ModeSetuid, Data: bytes.Repeat([]byte("x"), 5000)},
		{Path: "/srv/www/index.html", Mode: 0o644, Data: []byte("<h1>hi</h1>")},
		{Path: "/srv/www/copy.html", Mode: 0o644, Data: []byte("<h1>hi</h1>")}, // deduplicated
		{Path: "/srv/empty-dir", Mode: fs.ModeDir | 0o700},
		{Path: "/srv/current", Mode: fs.ModeSymlink, Target: "www"},
		{Path: "/srv/abs", Mode: fs.ModeSymlink, Target: "/etc/hosts"},
		{Path: "/srv/dangling", Mode: fs.ModeSymlink, Target: "nowhere"},
		{Path: "/tmp", Mode: fs.ModeDir | 0o777 | fs.ModeSticky},
	}
}

func TestRoundTrip(t *testing.T) {
	img := pack(t, sampleEntries()...)
	if len(img)%PageSize != 0 {
		t.Errorf("image size %d is not page-aligned", len(img))
	}
	im := mustParse(t, img)
	for _, e := range sampleEntries() {
		n, err := im.Resolve(strings.TrimPrefix(e.Path, "/"), false)
		if err != nil {
			t.Fatalf("%s: %v", e.Path, err)
		}
		want := e.Mode
		if want&fs.ModeSymlink != 0 {
			want |= 0o777 // links are always rwxrwxrwx, as on Linux
		}
		if n.Mode() != want {
			t.Errorf("%s: mode %v, want %v", e.Path, n.Mode(), want)
		}
		switch {
		case e.Mode.IsRegular():
			if !bytes.Equal(n.Data(), e.Data) {
				t.Errorf("%s: data mismatch", e.Path)
			}
			if n.Size() != int64(len(e.Data)) {
				t.Errorf("%s: size %d", e.Path, n.Size())
			}
			if len(e.Data) > 0 && n.DataOffset()%PageSize != 0 {
				t.Errorf("%s: data at %d, not page-aligned", e.Path, n.DataOffset())
			}
		case e.Mode&fs.ModeSymlink != 0:
			if n.Target() != e.Target {
				t.Errorf("%s: target %q", e.Path, n.Target())
			}
		}
		if !e.ModTime.IsZero() && !n.ModTime().Equal(e.ModTime) {
			t.Errorf("%s: mtime %v want %v", e.Path, n.ModTime(), e.ModTime)
		}
	}
	// Identical contents are stored once.
	a, _ := im.Resolve("srv/www/index.html", false)
	b, _ := im.Resolve("srv/www/copy.html", false)
	if a.DataOffset() != b.DataOffset() {
		t.Errorf("identical files not deduplicated: %d vs %d", a.DataOffset(), b.DataOffset())
	}
	// Zero copy: Data aliases the image bytes.
	h, _ := im.Resolve("etc/hosts", false)
	if &h.Data()[0] != &img[h.DataOffset()] {
		t.Error("Data copied the file instead of slicing the image")
	}
}

func TestFSTest(t *testing.T) {
	// fstest opens every entry, so leave out the dangling link.
	var entries []Entry
	for _, e := range sampleEntries() {
		if e.Target != "nowhere" {
			entries = append(entries, e)
		}
	}
	im := mustParse(t, pack(t, entries...))
	if err := fstest.TestFS(im, "etc/hosts", "bin/tool", "srv/www/index.html", "srv/www/copy.html", "srv/abs"); err != nil {
		t.Fatal(err)
	}
}

func TestSymlinkResolution(t *testing.T) {
	im := mustParse(t, pack(t,
		Entry{Path: "/a/b/file", Mode: 0o644, Data: []byte("data")},
		Entry{Path: "/a/up", Mode: fs.ModeSymlink, Target: ".."},
		Entry{Path: "/a/b/rel", Mode: fs.ModeSymlink, Target: "../b/file"},
		Entry{Path: "/a/b/abs", Mode: fs.ModeSymlink, Target: "/a/b/file"},
		Entry{Path: "/a/b/escape", Mode: fs.ModeSymlink, Target: "../../../../a/b/file"},
		Entry{Path: "/a/dirlink", Mode: fs.ModeSymlink, Target: "b"},
		Entry{Path: "/a/viadots", Mode: fs.ModeSymlink, Target: "dirlink/../b/file"},
		Entry{Path: "/loop1", Mode: fs.ModeSymlink, Target: "loop2"},
		Entry{Path: "/loop2", Mode: fs.ModeSymlink, Target: "/loop1"},
		Entry{Path: "/fileslash", Mode: fs.ModeSymlink, Target: "a/b/file/"},
	))
	for _, tc := range []struct {
		path string
		want string // data of the resolved file, or "" for an error
	}{
		{"a/b/rel", "data"},
		{"a/b/abs", "data"},
		{"a/b/escape", "data"}, // ".." stops at the image root
		{"a/dirlink/file", "data"},
		{"a/dirlink/rel", "data"},
		{"a/up/a/up/a/b/file", "data"},
		{"a/viadots", "data"}, // ".." after a link goes to the target's parent
		{"loop1", ""},
		{"fileslash", ""},
		{"a/b/file/x", ""},
	} {
		n, err := im.Resolve(tc.path, true)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: resolved, want error", tc.path)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if string(n.Data()) != tc.want {
			t.Errorf("%s: got %q", tc.path, n.Data())
		}
	}
	if _, err := im.Resolve("loop1", true); !errors.Is(err, errTooManyLinks) {
		t.Errorf("loop: %v, want too many links", err)
	}
	if l, err := im.ReadLink("a/b/abs"); err != nil || l != "/a/b/file" {
		t.Errorf("ReadLink = %q, %v", l, err)
	}
	if fi, err := im.Lstat("a/dirlink"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat = %v, %v", fi, err)
	}
}

func TestBuilderHostTree(t *testing.T) {
	host := t.TempDir()
	write := func(p, s string, perm os.FileMode) {
		t.Helper()
		full := filepath.Join(host, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, perm); err != nil {
			t.Fatal(err)
		}
	}
	write("conf/app.toml", "x=1\n", 0o640)
	write("bin/run", "#!/bin/sh\n", 0o755)
	must(t, os.Symlink("../conf/app.toml", filepath.Join(host, "bin/conf")))
	must(t, os.Symlink(filepath.Join(host, "conf"), filepath.Join(host, "absconf")))
	must(t, os.Link(filepath.Join(host, "bin/run"), filepath.Join(host, "bin/run2")))

	var b Builder
	must(t, b.AddDir(host, "/app"))
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	im := mustParse(t, buf.Bytes())
	n, err := im.Resolve("app/conf/app.toml", true)
	if err != nil || string(n.Data()) != "x=1\n" || n.Mode().Perm() != 0o640 {
		t.Fatalf("app.toml: %v %q %v", err, n.Data(), n.Mode())
	}
	if l, _ := im.ReadLink("app/bin/conf"); l != "../conf/app.toml" {
		t.Errorf("relative link rewritten to %q", l)
	}
	if l, _ := im.ReadLink("app/absconf"); l != "/app/conf" {
		t.Errorf("absolute in-tree link = %q, want /app/conf", l)
	}
	r1, _ := im.Resolve("app/bin/run", true)
	r2, _ := im.Resolve("app/bin/run2", true)
	if r1.DataOffset() != r2.DataOffset() || r1.Mode().Perm() != 0o755 {
		t.Errorf("hard links: offsets %d %d, mode %v", r1.DataOffset(), r2.DataOffset(), r1.Mode())
	}

	// A link that leaves the tree: rejected by default with a message
	// naming it, copied with FollowExternal, dropped with SkipExternal.
	outside := filepath.Join(t.TempDir(), "secret")
	must(t, os.WriteFile(outside, []byte("s3cret"), 0o600))
	must(t, os.Symlink(outside, filepath.Join(host, "ext")))
	var rej Builder
	err = rej.AddDir(host, "/")
	if err == nil || !strings.Contains(err.Error(), "outside the packed tree") || !strings.Contains(err.Error(), "ext") {
		t.Errorf("external link: err = %v", err)
	}
	follow := Builder{ExternalSymlinks: FollowExternal}
	must(t, follow.AddDir(host, "/"))
	buf.Reset()
	if _, err := follow.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if n, err := mustParse(t, buf.Bytes()).Resolve("ext", false); err != nil || !n.IsRegular() || string(n.Data()) != "s3cret" {
		t.Errorf("followed link: %v %v", err, n.Mode())
	}
	skip := Builder{ExternalSymlinks: SkipExternal}
	must(t, skip.AddDir(host, "/"))
	if skip.Has("/ext") || !skip.Has("/bin/conf") {
		t.Error("SkipExternal kept the external link or dropped an internal one")
	}
	// "../.." escaping is external too.
	must(t, os.Remove(filepath.Join(host, "ext")))
	must(t, os.Symlink("../../../etc/passwd", filepath.Join(host, "conf/esc")))
	if err := new(Builder).AddDir(host, "/"); err == nil {
		t.Error("relative link escaping the tree was accepted")
	}
}

func TestBuilderConflicts(t *testing.T) {
	var b Builder
	must(t, b.AddFile("/a/file", []byte("1"), 0o644))
	must(t, b.AddFile("/a/file", []byte("2"), 0o644)) // later wins
	if err := b.AddFile("/a", nil, 0o644); err == nil {
		t.Error("replacing a directory with a file succeeded")
	}
	if err := b.Mkdir("/a/file/sub", 0o755); err == nil {
		t.Error("mkdir under a file succeeded")
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if n, _ := mustParse(t, buf.Bytes()).Resolve("a/file", false); string(n.Data()) != "2" {
		t.Errorf("got %q, want the later file", n.Data())
	}
}

func TestDefaults(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644))
	var b Builder
	must(t, b.AddFile("/etc/hosts", []byte("mine\n"), 0o644))
	must(t, b.AddDefaults(Defaults{Hostname: "box", CABundle: ca, Nameservers: []string{"10.0.2.3"}}))
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	im := mustParse(t, buf.Bytes())
	read := func(p string) string {
		d, err := im.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		return string(d)
	}
	if read("etc/hosts") != "mine\n" {
		t.Error("defaults replaced the user's /etc/hosts")
	}
	if !strings.Contains(read("etc/nsswitch.conf"), "hosts: files dns") {
		t.Error("nsswitch.conf")
	}
	if !strings.HasPrefix(read("etc/ssl/certs/ca-certificates.crt"), "-----BEGIN") {
		t.Error("CA bundle")
	}
	if read("etc/resolv.conf") != "nameserver 10.0.2.3\n" {
		t.Error("resolv.conf")
	}
	if fi, err := im.Stat("tmp"); err != nil || !fi.IsDir() || fi.Mode()&fs.ModeSticky == 0 {
		t.Errorf("/tmp: %v %v", fi, err)
	}
	if _, err := im.Stat("usr/share/zoneinfo"); err == nil {
		t.Error("zoneinfo added without being asked")
	}

	if _, err := os.Stat("/usr/share/zoneinfo/UTC"); err == nil {
		var z Builder
		must(t, z.AddDefaults(Defaults{Zoneinfo: true, Localtime: "UTC", NoCABundle: true}))
		if !z.Has("/usr/share/zoneinfo/UTC") || !z.Has("/etc/localtime") || z.Has("/etc/ssl/certs/ca-certificates.crt") {
			t.Error("zoneinfo defaults incomplete")
		}
	}
}

func TestParseRejects(t *testing.T) {
	good := pack(t, sampleEntries()...)
	corrupt := func(off int, v byte) []byte {
		b := append([]byte(nil), good...)
		b[off] = v
		return b
	}
	entry1 := headerSize + entrySize // first child of the root
	for name, b := range map[string][]byte{
		"empty":            nil,
		"short":            good[:headerSize-1],
		"magic":            corrupt(0, 'X'),
		"version":          corrupt(hVersion, 9),
		"truncated":        good[:len(good)-1],
		"entry count":      corrupt(hEntryCount+3, 0xff),
		"root not dir":     corrupt(headerSize+eMode+1, 0x81),
		"child name slash": corrupt(int(le.Uint64(good[hStringsOff:])), '/'),
		"bad type":         corrupt(entry1+eMode+1, 0x20),
		"reserved":         corrupt(entry1+eReserved, 1),
		"child range":      corrupt(headerSize+eB, 200),
	} {
		if _, err := Parse(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Parse error %v, want ErrFormat", name, err)
		}
	}
}

func TestOpenReadSeek(t *testing.T) {
	im := mustParse(t, pack(t, sampleEntries()...))
	f, err := im.Open("bin/tool")
	must(t, err)
	defer f.Close()
	rs := f.(io.ReadSeeker)
	if off, err := rs.Seek(-10, io.SeekEnd); err != nil || off != 4990 {
		t.Fatalf("seek %d %v", off, err)
	}
	rest, err := io.ReadAll(rs)
	if err != nil || len(rest) != 10 {
		t.Fatalf("read %d %v", len(rest), err)
	}
	if _, err := im.Open("bin/tool/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open through a file: %v", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAddSpec(t *testing.T) {
	host := t.TempDir()
	must(t, os.WriteFile(filepath.Join(host, "f"), []byte("x"), 0o644))
	var b Builder
	must(t, b.AddSpec(host+":/srv"))
	must(t, b.AddSpec(host))
	if !b.Has("/srv/f") || !b.Has("/f") {
		t.Error("spec not packed where asked")
	}
	if err := b.AddSpec(":/x"); err == nil {
		t.Error("empty host dir accepted")
	}
	if err := b.AddSpec(filepath.Join(host, "f")); err == nil {
		t.Error("a file accepted as a tree")
	}
}

// BenchmarkReadAll measures the cost of the packed format at run time:
// resolving every path and touching every byte.
func BenchmarkReadAll(b *testing.B) {
	var entries []Entry
	for i := range 1000 {
		entries = append(entries, Entry{Path: fmt.Sprintf("/d%d/f%d", i%20, i), Mode: 0o644, Data: bytes.Repeat([]byte{byte(i)}, 1+i*7)})
	}
	im := mustParse(b, pack(b, entries...))
	b.ResetTimer()
	for range b.N {
		sum := 0
		for _, e := range entries {
			n, err := im.Resolve(e.Path[1:], true)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range n.Data() {
				sum += int(c)
			}
		}
		_ = sum
	}
}
