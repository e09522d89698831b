package ext4

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setFeature ORs bits into a superblock feature word of an image file and
// fixes the superblock checksum.
func setFeature(t *testing.T, img string, off int, bits uint32) {
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	sb := superblock{raw[superOffset : superOffset+superSize]}
	sb.put32(off, sb.u32(off)|bits)
	sb.updateChecksum()
	if err := os.WriteFile(img, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownFeaturesMountReadOnly(t *testing.T) {
	src, files := makeTree(t)
	for _, c := range []struct {
		name string
		off  int
		bit  uint32
	}{
		{"incompat", sFeatureIncompat, 0x80000000},
		{"ro_compat", sFeatureROCompat, 0x80000000},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := mkImage(t, 32<<10, src)
			setFeature(t, img, c.off, c.bit)
			var msgs []string
			dev, err := OpenFile(img, false)
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			fs, err := Mount(dev, Options{Log: func(f string, a ...any) { msgs = append(msgs, f) }})
			if err != nil {
				t.Fatal(err)
			}
			ro, reason := fs.ReadOnly()
			if !ro || !strings.Contains(reason, "0x80000000") {
				t.Fatalf("ReadOnly() = %v, %q", ro, reason)
			}
			if len(msgs) == 0 {
				t.Errorf("no message logged")
			}
			if _, err := fs.Mkdir(RootIno, "x", 0o755, 0, 0); err != syscall.EROFS {
				t.Errorf("mkdir: %v, want EROFS", err)
			}
			if got := readAll(t, fs, resolve(t, fs, "hello.txt")); !bytes.Equal(got, files["hello.txt"]) {
				t.Errorf("read-only view reads wrong data")
			}
		})
	}
}

func TestCorruptSuperblockChecksum(t *testing.T) {
	img := mkImage(t, 8<<10, "")
	raw, _ := os.ReadFile(img)
	raw[superOffset+sVolumeNameForTest] ^= 1
	os.WriteFile(img, raw, 0o644)
	dev, _ := OpenFile(img, true)
	defer dev.Close()
	if _, err := Mount(dev, Options{ReadOnly: true}); err == nil {
		t.Fatal("mounted a superblock with a bad checksum")
	}
}

const sVolumeNameForTest = 0x78

// TestENOSPC fills a small filesystem and checks that allocation fails
// cleanly and the filesystem stays consistent.
func TestENOSPC(t *testing.T) {
	img := mkImage(t, 4<<10, "", "-b", "1024")
	fs, dev := mountFile(t, img, false)
	chunk := bytes.Repeat([]byte("z"), 64<<10)
	var err error
	var ino uint32
	for i := 0; err == nil && i < 1000; i++ {
		if i%10 == 0 {
			ino, err = fs.Create(RootIno, "f"+string(rune('a'+i/10%26))+string(rune('a'+i/260)), 0o644, 0, 0)
			if err != nil {
				break
			}
		}
		st, _ := fs.Stat(ino)
		_, err = fs.WriteAt(ino, chunk, st.Size)
	}
	if err != syscall.ENOSPC {
		t.Fatalf("filling the disk ended with %v, want ENOSPC", err)
	}
	if s := fs.StatFS(); s.FreeBlocks != 0 {
		t.Errorf("free blocks %d after ENOSPC", s.FreeBlocks)
	}
	// Deleting frees space again (after the freeing transaction commits).
	ok(t, fs.Unlink(RootIno, "faa"))
	ok(t, fs.Sync())
	ok(t, fs.Close())
	dev.Close()
	fsck(t, img)
}

// TestTimerCommit checks that CommitIfOlderThan commits an old transaction
// and leaves a young one alone: after a commit, a crash loses nothing.
func TestTimerCommit(t *testing.T) {
	img := mkImage(t, 8<<10, "")
	base, _ := os.ReadFile(img)
	mem := &MemDevice{Data: base}
	fs, err := Mount(mem, Options{})
	if err != nil {
		t.Fatal(err)
	}
	must(fs.Mkdir(RootIno, "committed", 0o755, 0, 0))
	ok(t, fs.CommitIfOlderThan(time.Hour))
	if len(fs.txn) == 0 {
		t.Fatal("a young transaction was committed")
	}
	ok(t, fs.CommitIfOlderThan(0))
	if len(fs.txn) != 0 {
		t.Fatal("an old transaction was not committed")
	}
	must(fs.Mkdir(RootIno, "lost", 0o755, 0, 0))
	// "Crash": mount the bytes as they are now, without Close.
	fs2, err := Mount(&MemDevice{Data: bytes.Clone(mem.Data)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs2.Lookup(RootIno, "committed"); err != nil {
		t.Errorf("committed dir lost: %v", err)
	}
	if _, err := fs2.Lookup(RootIno, "lost"); err != syscall.ENOENT {
		t.Errorf("uncommitted dir present: %v", err)
	}
}

// TestBigWrite writes a 40 MiB file in one call on a filesystem with a
// 1 MiB journal (several block groups, extents of maximum length).
func TestBigWrite(t *testing.T) {
	img := mkImage(t, 64<<10, "", "-b", "1024", "-J", "size=1")
	fs, dev := mountFile(t, img, false)
	f := must(fs.Create(RootIno, "big", 0o644, 0, 0))
	data := bytes.Repeat([]byte("0123456789abcdef"), 40<<16) // 40 MiB
	must(fs.WriteAt(f, data, 0))
	ok(t, fs.Close())
	dev.Close()
	fsck(t, img)
	fs, dev = mountFile(t, img, true)
	defer dev.Close()
	if got := readAll(t, fs, resolve(t, fs, "big")); !bytes.Equal(got, data) {
		t.Fatal("big file differs")
	}
}

// TestOpenUnlinked checks the orphan list: a pinned file keeps its data
// after its last name goes, Unpin frees it, and a "crash" with a pinned
// orphan is cleaned up by the next mount.
func TestOpenUnlinked(t *testing.T) {
	img := mkImage(t, 8<<10, "")
	fs, dev := mountFile(t, img, false)
	before := fs.StatFS()
	a := must(fs.Create(RootIno, "a", 0o644, 0, 0))
	b := must(fs.Create(RootIno, "b", 0o644, 0, 0))
	data := bytes.Repeat([]byte("q"), 100000)
	must(fs.WriteAt(a, data, 0))
	must(fs.WriteAt(b, data, 0))
	fs.Pin(a)
	fs.Pin(b)
	ok(t, fs.Unlink(RootIno, "a"))
	ok(t, fs.Unlink(RootIno, "b"))
	must(fs.WriteAt(a, []byte("still here"), 0))
	buf := make([]byte, 10)
	if n, err := fs.ReadAt(a, buf, 0); err != nil || string(buf[:n]) != "still here" {
		t.Fatalf("read of an unlinked open file: %q %v", buf[:n], err)
	}
	if fs.sb.u32(sLastOrphan) == 0 {
		t.Fatal("no orphan list")
	}
	ok(t, fs.Unpin(a))
	ok(t, fs.Sync())
	// "Crash" with b still open: the next mount must free it.
	ok(t, fs.Close())
	dev.Close()
	fs, dev = mountFile(t, img, false)
	if fs.sb.u32(sLastOrphan) != 0 {
		t.Fatal("orphan list not processed at mount")
	}
	if after := fs.StatFS(); after.FreeBlocks != before.FreeBlocks || after.FreeInodes != before.FreeInodes {
		t.Errorf("space leaked: free blocks %d -> %d, inodes %d -> %d",
			before.FreeBlocks, after.FreeBlocks, before.FreeInodes, after.FreeInodes)
	}
	ok(t, fs.Close())
	dev.Close()
	fsck(t, img)
}
