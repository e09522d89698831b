package vfs_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

// TestIOAgainstLinux drives several descriptions of one file (with and
// without O_APPEND, read-only and write-only among them) with random
// read, write, pread, pwrite, lseek (including SEEK_DATA/SEEK_HOLE),
// ftruncate and F_SETFL calls, on the VFS and on the host kernel, and
// requires the same results, the same bytes read and the same sizes.
func TestIOAgainstLinux(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { ioAgainstLinux(t, seed) })
	}
}

func ioAgainstLinux(t *testing.T, seed int64) {
	hostPath := filepath.Join(t.TempDir(), "f")
	v := newTmp(t)
	modes := []int{syscall.O_RDWR, syscall.O_RDWR | syscall.O_APPEND, syscall.O_RDONLY, syscall.O_WRONLY, syscall.O_WRONLY | syscall.O_APPEND}
	var host []int
	var mine []fdesc.Description
	for i, m := range modes {
		if i == 0 {
			m |= syscall.O_CREAT
		}
		fd, err := syscall.Open(hostPath, m|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fd)
		host = append(host, fd)
		mine = append(mine, openT(t, v, "/f", m))
	}
	// SEEK_DATA/SEEK_HOLE answers depend on the file system; ext4 and
	// tmpfs track holes per 4 KiB page as our tmpfs does.
	var sf syscall.Statfs_t
	syscall.Statfs(filepath.Dir(hostPath), &sf)
	whences := 3
	if sf.Type == 0xEF53 || sf.Type == 0x01021994 {
		whences = 5
	}
	rng := rand.New(rand.NewSource(seed))
	result := func(n int, err error) string {
		if err != nil {
			return fmt.Sprint(err) // the host says -1, we say 0: both mean "no count"
		}
		return fmt.Sprint(n)
	}
	for step := 0; step < 3000; step++ {
		i := rng.Intn(len(modes))
		h, m := host[i], mine[i]
		var what, want, got string
		switch op := rng.Intn(8); op {
		case 0, 1: // write
			data := make([]byte, rng.Intn(6000))
			rng.Read(data)
			what = fmt.Sprintf("write(%d, %d bytes)", i, len(data))
			want = result(syscall.Write(h, data))
			got = result(m.Write(data))
		case 2: // read
			n := rng.Intn(6000)
			hb, mb := make([]byte, n), make([]byte, n)
			what = fmt.Sprintf("read(%d, %d)", i, n)
			hn, herr := syscall.Read(h, hb)
			mn, merr := m.Read(mb)
			want, got = result(hn, herr), result(mn, merr)
			if herr == nil && merr == nil && !bytes.Equal(hb[:hn], mb[:mn]) {
				got += " (different bytes)"
			}
		case 3: // pread
			n, off := rng.Intn(6000), int64(rng.Intn(30000))
			hb, mb := make([]byte, n), make([]byte, n)
			what = fmt.Sprintf("pread(%d, %d, %d)", i, n, off)
			hn, herr := syscall.Pread(h, hb, off)
			mn, merr := m.(fdesc.Positional).ReadAt(mb, off)
			want, got = result(hn, herr), result(mn, merr)
			if herr == nil && merr == nil && !bytes.Equal(hb[:hn], mb[:mn]) {
				got += " (different bytes)"
			}
		case 4: // pwrite
			data := make([]byte, rng.Intn(3000))
			rng.Read(data)
			off := int64(rng.Intn(30000))
			what = fmt.Sprintf("pwrite(%d, %d bytes, %d)", i, len(data), off)
			want = result(syscall.Pwrite(h, data, off))
			got = result(m.(fdesc.Positional).WriteAt(data, off))
		case 5: // lseek
			off, whence := int64(rng.Intn(30000)-5000), rng.Intn(whences)
			what = fmt.Sprintf("lseek(%d, %d, %d)", i, off, whence)
			ho, herr := syscall.Seek(h, off, whence)
			mo, merr := m.(fdesc.Positional).Seek(off, whence)
			want, got = fmt.Sprint(ho, herr), fmt.Sprint(mo, merr)
			if herr != nil {
				want = fmt.Sprint(herr)
			}
			if merr != nil {
				got = fmt.Sprint(merr)
			}
		case 6: // ftruncate
			size := int64(rng.Intn(25000))
			what = fmt.Sprintf("ftruncate(%d, %d)", i, size)
			want = fmt.Sprint(syscall.Ftruncate(h, size))
			got = fmt.Sprint(m.(fdesc.Truncater).Truncate(size))
		case 7: // toggle O_APPEND with F_SETFL, then compare F_GETFL
			fl := syscall.O_APPEND * rng.Intn(2)
			what = fmt.Sprintf("F_SETFL(%d, %#x)", i, fl)
			_, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(h), syscall.F_SETFL, uintptr(fl))
			want = fmt.Sprint(errnoOf(e))
			got = fmt.Sprint(m.SetFlags(fl))
			hf, _, _ := syscall.Syscall(syscall.SYS_FCNTL, uintptr(h), syscall.F_GETFL, 0)
			if int(hf) != m.Flags() {
				got += fmt.Sprintf(" (F_GETFL %#x, linux %#x)", m.Flags(), hf)
			}
		}
		if got != want {
			t.Fatalf("step %d %s: stardust %s, linux %s", step, what, got, want)
		}
		var hs, ms syscall.Stat_t
		syscall.Fstat(h, &hs)
		m.Stat(&ms)
		if hs.Size != ms.Size {
			t.Fatalf("step %d %s: size %d, linux %d", step, what, ms.Size, hs.Size)
		}
	}
}
