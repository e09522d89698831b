package imagefs

import (
	"bytes"
	"io/fs"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/image/rootfs"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

func TestImageFS(t *testing.T) {
	var img bytes.Buffer
	if err := rootfs.Pack(&img,
		rootfs.Entry{Path: "/d/sub1/f", Mode: 0o640, Data: []byte("data")},
		rootfs.Entry{Path: "/d/sub2", Mode: fs.ModeDir | 0o700},
		rootfs.Entry{Path: "/d/link", Mode: fs.ModeSymlink, Target: "sub1/f"},
	); err != nil {
		t.Fatal(err)
	}
	fsys, err := New(img.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(img.Bytes()[:100]); err == nil {
		t.Error("truncated image accepted")
	}
	// Mounted without the read-only flag, the image still refuses writes.
	v := vfs.New(fsys, vfs.Options{})
	var st syscall.Stat_t
	if err := v.StatAt(nil, "/d", &st, 0); err != nil || st.Nlink != 4 || st.Mode != syscall.S_IFDIR|0o755 {
		t.Errorf("stat /d: %v nlink %d mode %#o", err, st.Nlink, st.Mode)
	}
	if err := v.StatAt(nil, "/d/link", &st, 0); err != nil || st.Size != 4 || st.Mode != syscall.S_IFREG|0o640 || st.Blocks != 8 {
		t.Errorf("stat via link: %v size %d mode %#o blocks %d", err, st.Size, st.Mode, st.Blocks)
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"open for write", open(v, "/d/sub1/f", syscall.O_WRONLY)},
		{"create", open(v, "/d/new", syscall.O_CREAT|syscall.O_WRONLY)},
		{"mkdir", v.MkdirAt(nil, "/d/x", 0o755)},
		{"unlink", v.UnlinkAt(nil, "/d/link", 0)},
		{"rename", v.RenameAt2(nil, "/d/link", nil, "/d/l2", 0)},
		{"chmod", v.ChmodAt(nil, "/d/sub1/f", 0o600, 0)},
	} {
		if tc.err != syscall.EROFS {
			t.Errorf("%s: %v, want EROFS", tc.name, tc.err)
		}
	}
	// File data is served from the image bytes without copying.
	n, _ := fsys.Root().Lookup("d")
	f, _ := n.(vfs.DirNode).Lookup("sub1")
	file, _ := f.(vfs.DirNode).Lookup("f")
	data := file.(interface{ Data() []byte }).Data()
	node, err := fsys.Image().Resolve("d/sub1/f", false)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "data" || &data[0] != &img.Bytes()[node.DataOffset()] {
		t.Error("Data is not a view of the image")
	}
	var sf syscall.Statfs_t
	if err := v.StatfsAt(nil, "/", &sf); err != nil || sf.Type != Magic || sf.Flags&vfs.ST_RDONLY == 0 {
		t.Errorf("statfs: %v %#x %#x", err, sf.Type, sf.Flags)
	}
}

func open(v *vfs.VFS, p string, flags int) error {
	d, err := v.OpenAt(nil, p, flags, 0o644)
	if err == nil {
		d.Close()
	}
	return err
}
