package tmpfs

import (
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

func attr(t *testing.T, n vfs.Node) vfs.Attr {
	t.Helper()
	a, err := n.Attr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func lookup(t *testing.T, d vfs.DirNode, name string) vfs.Node {
	t.Helper()
	n, err := d.Lookup(name)
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	return n
}

// TestLinkCounts checks the ".." bookkeeping through mkdir, rename across
// directories, exchange and rmdir.
func TestLinkCounts(t *testing.T) {
	fs := New(Options{})
	root := fs.Root().(dirNode)
	for _, n := range []string{"a", "b"} {
		if err := root.Mkdir(n, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := lookup(t, root, "a").(dirNode)
	b := lookup(t, root, "b").(dirNode)
	if err := a.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if got := attr(t, root).Nlink; got != 4 {
		t.Errorf("root nlink %d, want 4", got)
	}
	if err := a.Rename("sub", b, "moved", 0); err != nil {
		t.Fatal(err)
	}
	if attr(t, a).Nlink != 2 || attr(t, b).Nlink != 3 {
		t.Errorf("after move: a %d b %d", attr(t, a).Nlink, attr(t, b).Nlink)
	}
	if _, err := a.Create("file", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Rename("file", b, "moved", vfs.RENAME_EXCHANGE); err != nil {
		t.Fatal(err)
	}
	if attr(t, a).Nlink != 3 || attr(t, b).Nlink != 2 {
		t.Errorf("after exchange: a %d b %d", attr(t, a).Nlink, attr(t, b).Nlink)
	}
	// Moving a directory below itself is refused by the inode check.
	moved := lookup(t, a, "file").(dirNode) // the directory, after the exchange
	if err := a.Rename("file", moved, "x", 0); err != syscall.EINVAL {
		t.Errorf("rename into itself: %v", err)
	}
	f := lookup(t, b, "moved")
	if err := b.Link("hard", f); err != nil || attr(t, f).Nlink != 2 {
		t.Errorf("link: %v nlink %d", err, attr(t, f).Nlink)
	}
	if err := b.Rename("moved", b, "hard", 0); err != nil {
		t.Errorf("rename onto own hard link: %v", err)
	}
	if _, err := b.Lookup("moved"); err != nil {
		t.Error("rename onto own hard link removed the source")
	}
	if err := a.Rmdir("file"); err != nil || attr(t, a).Nlink != 2 {
		t.Errorf("rmdir: %v nlink %d", err, attr(t, a).Nlink)
	}
}

func TestNoSpace(t *testing.T) {
	fs := New(Options{MaxBytes: 2 * pageSize})
	n, err := fs.Root().(dirNode).Create("f", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := n.(fileNode).Open(syscall.O_RDWR)
	if w, err := h.WriteAt(make([]byte, 3*pageSize), 0); w != 2*pageSize || err != nil {
		t.Errorf("first write: %d %v, want a short write", w, err)
	}
	if _, err := h.WriteAt([]byte("x"), 3*pageSize); err != syscall.ENOSPC {
		t.Errorf("full: %v", err)
	}
	var st syscall.Statfs_t
	fs.Statfs(&st)
	if st.Bfree != 0 || st.Blocks != 2 {
		t.Errorf("statfs blocks %d free %d", st.Blocks, st.Bfree)
	}
	// Truncating frees pages; unlinking frees the rest.
	n.(fileNode).SetAttr(vfs.SetAttr{Valid: vfs.SetSize, Size: pageSize})
	fs.Statfs(&st)
	if st.Bfree != 1 {
		t.Errorf("after truncate free %d", st.Bfree)
	}
	fs.Root().(dirNode).Unlink("f")
	fs.Statfs(&st)
	if st.Bfree != 2 {
		t.Errorf("after unlink free %d", st.Bfree)
	}
}
