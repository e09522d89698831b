package p9fs_test

import (
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/p9/p9fs"
	"github.com/stardust-go/stardust/kernel/fs/vfs/vfstest"
)

// TestRandomAgainstLinux applies the same random operations to a share
// (VFS → p9fs → 9P → p9test → host) and directly to another host
// directory, and requires the same errno from each call and the same
// tree at the end.
func TestRandomAgainstLinux(t *testing.T) {
	v, shareDir, _ := mountShare(t, nil, p9fs.Options{}, 0)
	ref := t.TempDir()
	vfstest.CompareWithLinux(t, v, "/mnt", ref, 600, 42)
	if a, b := vfstest.Tree(t, shareDir), vfstest.Tree(t, ref); a != b {
		t.Fatalf("trees differ:\nshare:\n%s\nLinux:\n%s", a, b)
	}
}
