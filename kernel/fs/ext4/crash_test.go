package ext4

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// crashWorkload is a log writer with churn: it appends records to a log and
// creates files, syncing now and then, while renaming and deleting scratch
// files in between. It records in durable what a completed Sync promised:
// every record and file it must find after a crash.
type durable struct {
	log   []byte            // the synced prefix of "log"
	files map[string][]byte // synced files under /d
}

func crashWorkload(fs *FS, seed int64, dev *CrashDevice, d *durable) {
	rnd := rand.New(rand.NewSource(seed))
	var logData []byte
	var pinned uint32
	files := map[string][]byte{}
	dir, err := fs.Mkdir(RootIno, "d", 0o755, 0, 0)
	if err != nil {
		return
	}
	logIno, err := fs.Create(RootIno, "log", 0o644, 0, 0)
	if err != nil {
		return
	}
	for i := 0; i < 60; i++ {
		switch rnd.Intn(4) {
		case 0, 1: // append a log record
			rec := []byte(fmt.Sprintf("record %d %s\n", i, bytes.Repeat([]byte{'a' + byte(i%26)}, rnd.Intn(3000))))
			if _, err := fs.WriteAt(logIno, rec, int64(len(logData))); err != nil {
				return
			}
			logData = append(logData, rec...)
		case 2: // a new file
			data := make([]byte, rnd.Intn(20000))
			rnd.Read(data)
			name := fmt.Sprintf("f%d", i)
			ino, err := fs.Create(dir, name, 0o644, 0, 0)
			if err != nil {
				return
			}
			if _, err := fs.WriteAt(ino, data, 0); err != nil {
				return
			}
			files[name] = data
		case 3: // churn: write a scratch file, rename it, delete it
			ino, err := fs.Create(RootIno, "tmp", 0o644, 0, 0)
			if err != nil {
				return
			}
			fs.WriteAt(ino, make([]byte, rnd.Intn(9000)), 0)
			// Keep it open across the unlink (an orphan) until the next
			// churn step, so some crashes leave orphans behind.
			fs.Pin(ino)
			if fs.Rename(RootIno, "tmp", dir, "scratch") != nil || fs.Unlink(dir, "scratch") != nil {
				return
			}
			fs.WriteAt(ino, []byte("more"), 20000)
			if pinned != 0 && fs.Unpin(pinned) != nil {
				return
			}
			pinned = ino
		}
		if rnd.Intn(3) == 0 {
			if fs.Sync() != nil {
				return
			}
			if dev.Crashed() {
				return // the sync's writes were lost: it promised nothing
			}
			d.log = bytes.Clone(logData)
			d.files = map[string][]byte{}
			for k, v := range files {
				d.files[k] = v
			}
		}
	}
	fs.Sync()
}

// TestCrashConsistency cuts the power at random points of a workload (all
// writes after the Nth are dropped), then recovers the surviving image and
// checks that it is consistent (e2fsck -fn) and holds every synced record.
// Odd rounds let e2fsck replay Stardust's journal instead of Stardust;
// block sizes alternate every two rounds.
func TestCrashConsistency(t *testing.T) {
	var bases [2][]byte
	for i, bs := range []string{"1024", "4096"} {
		var err error
		if bases[i], err = os.ReadFile(mkImage(t, 8<<10, "", "-b", bs)); err != nil {
			t.Fatal(err)
		}
	}
	e2fsck := tool(t, "e2fsck")
	rounds := 24
	if testing.Short() {
		rounds = 6
	}
	// Soak runs: EXT4_CRASH_ROUNDS=500 go test -run Crash ./kernel/fs/ext4
	if n, err := strconv.Atoi(os.Getenv("EXT4_CRASH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	for r := 0; r < rounds; r++ {
		seed := int64(r)
		base := bases[r/2%2] // pairs of rounds per block size
		// A dry run counts the writes the workload makes.
		full := &CrashDevice{BlockDevice: &MemDevice{Data: bytes.Clone(base)}, Limit: -1}
		fs, err := Mount(full, Options{})
		if err != nil {
			t.Fatal(err)
		}
		crashWorkload(fs, seed, full, &durable{})
		total := full.Writes

		mem := &MemDevice{Data: bytes.Clone(base)}
		dev := &CrashDevice{BlockDevice: mem, Limit: rand.New(rand.NewSource(seed)).Intn(total + 1)}
		var d durable
		if fs, err = Mount(dev, Options{}); err == nil {
			crashWorkload(fs, seed, dev, &d)
		}

		out := filepath.Join(t.TempDir(), "crashed.img")
		if err := os.WriteFile(out, mem.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		if r%2 == 1 {
			// e2fsprogs replays our journal: proves the on-disk log format.
			if o, err := exec.Command(e2fsck, "-E", "journal_only", "-y", out).CombinedOutput(); err != nil {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
					t.Fatalf("round %d: e2fsck journal replay: %v\n%s", r, err, o)
				}
			}
		}
		rdev, err := OpenFile(out, false)
		if err != nil {
			t.Fatal(err)
		}
		var replayed string
		rfs, err := Mount(rdev, Options{Log: func(f string, a ...any) { replayed = fmt.Sprintf(f, a...) }})
		if err != nil {
			t.Fatalf("round %d (cut at write %d of %d): remount: %v", r, dev.Limit, total, err)
		}
		checkDurable(t, r, rfs, &d)
		t.Logf("round %d: cut at write %d/%d; durable: %d log bytes, %d files; %s",
			r, dev.Limit, total, len(d.log), len(d.files), replayed)
		ok(t, rfs.Close())
		rdev.Close()
		if o, err := exec.Command(e2fsck, "-fn", out).CombinedOutput(); err != nil {
			t.Fatalf("round %d (cut at write %d of %d): e2fsck -fn: %v\n%s", r, dev.Limit, total, err, o)
		}
	}
}

func checkDurable(t *testing.T, round int, fs *FS, d *durable) {
	t.Helper()
	if len(d.log) > 0 {
		ino, err := fs.Lookup(RootIno, "log")
		if err != nil {
			t.Fatalf("round %d: synced log missing: %v", round, err)
		}
		got := readAll(t, fs, ino)
		if len(got) < len(d.log) || !bytes.Equal(got[:len(d.log)], d.log) {
			t.Fatalf("round %d: log has %d bytes, the %d synced ones differ", round, len(got), len(d.log))
		}
	}
	for name, want := range d.files {
		ino, err := walk(fs, "d/"+name)
		if err != nil {
			t.Fatalf("round %d: synced file %s missing: %v", round, name, err)
		}
		if got := readAll(t, fs, ino); !bytes.Equal(got, want) {
			t.Fatalf("round %d: synced file %s differs", round, name)
		}
	}
}
