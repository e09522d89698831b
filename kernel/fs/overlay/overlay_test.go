package overlay

import (
	"io"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/tmpfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

func read(t *testing.T, v *vfs.VFS, p string) (string, error) {
	t.Helper()
	d, err := v.OpenAt(nil, p, syscall.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer d.Close()
	b, err := io.ReadAll(readerOf{d})
	return string(b), err
}

type readerOf struct {
	d interface{ Read([]byte) (int, error) }
}

func (r readerOf) Read(p []byte) (int, error) {
	n, err := r.d.Read(p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}

func TestGeneratedFileOverBase(t *testing.T) {
	base := tmpfs.New(tmpfs.Options{})
	setup := vfs.New(base, vfs.Options{})
	if err := setup.MkdirAt(nil, "/etc", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
		d, err := setup.OpenAt(nil, f, syscall.O_CREAT|syscall.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		d.Write([]byte("from the image " + f + "\n"))
		d.Close()
	}
	o := New(base)
	v := vfs.New(o, vfs.Options{ReadOnly: true})
	if got, _ := read(t, v, "/etc/resolv.conf"); got != "from the image /etc/resolv.conf\n" {
		t.Fatalf("before Set: %q", got)
	}

	var dns atomic.Value
	dns.Store("")
	o.Set("/etc/resolv.conf", func() ([]byte, bool) {
		s := dns.Load().(string)
		return []byte(s), s != ""
	})
	if got, _ := read(t, v, "/etc/resolv.conf"); got != "from the image /etc/resolv.conf\n" {
		t.Fatalf("hidden generated file: %q", got)
	}
	var st0 syscall.Stat_t
	v.StatAt(nil, "/etc/resolv.conf", &st0, 0)
	dns.Store("nameserver 10.0.2.3\n")
	if got, _ := read(t, v, "/etc/resolv.conf"); got != "nameserver 10.0.2.3\n" {
		t.Fatalf("generated: %q", got)
	}
	var st syscall.Stat_t
	if err := v.StatAt(nil, "/etc/resolv.conf", &st, 0); err != nil || st.Size != 20 || st.Mode != syscall.S_IFREG|0o644 {
		t.Fatalf("stat: %+v %v", st, err)
	}
	if st.Mtim == st0.Mtim {
		t.Fatal("the mtime did not change with the content (Go's resolver would not re-read it)")
	}
	var st2 syscall.Stat_t
	v.StatAt(nil, "/etc/resolv.conf", &st2, 0)
	if st2.Mtim != st.Mtim {
		t.Fatal("the mtime changed without a content change")
	}
	if got, _ := read(t, v, "/etc/hosts"); got != "from the image /etc/hosts\n" {
		t.Fatalf("other files: %q", got)
	}
	if _, err := v.OpenAt(nil, "/etc/resolv.conf", syscall.O_WRONLY, 0); err != syscall.EROFS {
		t.Fatalf("open for writing: %v", err)
	}

	// A generated file in a directory listing replaces the base's entry.
	d, err := v.OpenAt(nil, "/etc", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := d.(interface{ ReadDirents([]byte) (int, error) }).ReadDirents(buf)
	count := 0
	for off := 0; off < n; {
		reclen := int(buf[off+16]) | int(buf[off+17])<<8
		name := string(buf[off+19 : off+reclen])
		for i := range name {
			if name[i] == 0 {
				name = name[:i]
				break
			}
		}
		if name == "resolv.conf" {
			count++
		}
		off += reclen
	}
	if count != 1 {
		t.Fatalf("resolv.conf listed %d times", count)
	}

	// A generated file where the base has none.
	o.Set("/etc/motd", func() ([]byte, bool) { return []byte("hi"), true })
	if got, _ := read(t, v, "/etc/motd"); got != "hi" {
		t.Fatalf("new file: %q", got)
	}
}
