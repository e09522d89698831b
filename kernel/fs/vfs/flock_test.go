package vfs_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fdesc"
	"github.com/stardust-go/stardust/kernel/fs/vfs"
)

func TestFlock(t *testing.T) {
	v := newTmp(t)
	a := openT(t, v, "db", syscall.O_CREAT|syscall.O_RDWR)
	b := openT(t, v, "db", syscall.O_RDWR)
	la, lb := a.(fdesc.Flocker), b.(fdesc.Flocker)

	must(t, la.Flock(vfs.LOCK_EX|vfs.LOCK_NB))
	if err := lb.Flock(vfs.LOCK_SH | vfs.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Fatalf("second opener got %v, want EWOULDBLOCK", err)
	}
	must(t, la.Flock(vfs.LOCK_SH)) // downgrade
	must(t, lb.Flock(vfs.LOCK_SH|vfs.LOCK_NB))
	if err := la.Flock(vfs.LOCK_EX | vfs.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Fatalf("upgrade with another reader: %v", err)
	}

	// A blocking exclusive lock waits for the other holder to close.
	got := make(chan error)
	go func() { got <- la.Flock(vfs.LOCK_EX) }()
	select {
	case err := <-got:
		t.Fatalf("exclusive lock granted while shared held: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	b.Close()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// Another description of another name for the same file conflicts too.
	must(t, v.LinkAt(nil, "db", nil, "alias", 0))
	c := openT(t, v, "alias", syscall.O_RDONLY)
	if err := c.(fdesc.Flocker).Flock(vfs.LOCK_SH | vfs.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Errorf("hard link: %v", err)
	}
	if err := c.(fdesc.Flocker).Flock(vfs.LOCK_NB); err != syscall.EINVAL {
		t.Errorf("bad op: %v", err)
	}
	a.Close()
	must(t, c.(fdesc.Flocker).Flock(vfs.LOCK_EX|vfs.LOCK_NB))
	if p := c.(fdesc.Pather).Path(); p != "/alias" {
		t.Errorf("Path = %q", p)
	}
	c.Close()
}
