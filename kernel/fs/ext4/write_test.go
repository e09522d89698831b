package ext4

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"syscall"
	"testing"
	"time"
)

// must unwraps (value, error) results; a failure panics, which fails the
// test with a stack trace pointing at the call.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteThenFsck exercises every mutating operation on images made by
// mke2fs (both block sizes), then checks the result with e2fsck -fn, reads
// it back through a fresh mount and through debugfs.
func TestWriteThenFsck(t *testing.T) {
	for _, bs := range []string{"1024", "4096"} {
		t.Run("bs"+bs, func(t *testing.T) {
			src, _ := makeTree(t)
			img := mkImage(t, 64<<10, src, "-b", bs)
			reindex(t, img)
			fs, dev := mountFile(t, img, false)
			rnd := rand.New(rand.NewSource(2))
			want := map[string][]byte{}

			a := must(fs.Mkdir(RootIno, "a", 0o755, 0, 0))
			b := must(fs.Mkdir(a, "b", 0o700, 1000, 1000))
			f := must(fs.Create(b, "f.txt", 0o644, 0, 0))
			must(fs.WriteAt(f, []byte("hello world"), 0))
			want["a/b/f.txt"] = []byte("hello world")

			// A big file written in uneven pieces, with a hole.
			big := must(fs.Create(a, "big", 0o644, 0, 0))
			data := make([]byte, 5<<20)
			rnd.Read(data)
			clear(data[1<<20 : 2<<20])
			for off := 0; off < len(data); {
				n := min(len(data)-off, 1+rnd.Intn(300000))
				if off >= 1<<20 && off < 2<<20 {
					clear(data[off : off+n]) // leave a hole
					off += n
					continue
				}
				must(fs.WriteAt(big, data[off:off+n], int64(off)))
				off += n
			}
			if st := must(fs.Stat(big)); st.Size != int64(len(data)) {
				// The hole may end the writes early; extend to full size.
				ok(t, fs.Truncate(big, int64(len(data))))
			}
			want["a/big"] = data

			// Fragmented file: interleaved single-block writes to two files
			// give each hundreds of extents (a deep tree).
			fa := must(fs.Create(RootIno, "frag-a", 0o644, 0, 0))
			fb := must(fs.Create(RootIno, "frag-b", 0o644, 0, 0))
			bsz := fs.BlockSize()
			var da, db []byte
			for i := 0; i < 700; i++ {
				pa, pb := make([]byte, bsz), make([]byte, bsz)
				rnd.Read(pa)
				rnd.Read(pb)
				must(fs.WriteAt(fa, pa, int64(i*bsz)))
				must(fs.WriteAt(fb, pb, int64(i*bsz)))
				da, db = append(da, pa...), append(db, pb...)
			}
			want["frag-a"], want["frag-b"] = da, db
			if in, _ := fs.iget(fa); le.Uint16(in.raw[iBlock+6:]) < 1 || len(in.ext) < 500 {
				t.Fatalf("frag-a: depth %d, %d extents; the test lost its deep-tree coverage",
					le.Uint16(in.raw[iBlock+6:]), len(in.ext))
			}
			// Shrink one to a partial block, and regrow it (must read zeros).
			ok(t, fs.Truncate(fb, 100*int64(bsz)+17))
			ok(t, fs.Truncate(fb, 100*int64(bsz)+4000))
			db = append(db[:100*bsz+17:100*bsz+17], make([]byte, 4000-17)...)
			want["frag-b"] = db

			// Many entries in an indexed directory, then remove some.
			many := resolve(t, fs, "many")
			for i := 0; i < 300; i++ {
				must(fs.Create(many, fmt.Sprintf("new-%d", i), 0o644, 0, 0))
			}
			for i := 0; i < 600; i += 3 {
				ok(t, fs.Unlink(many, fmt.Sprintf("file-with-a-longish-name-%04d", i)))
			}
			// Links, symlinks, renames.
			ok(t, fs.Link(RootIno, "hard", f))
			want["hard"] = []byte("hello world")
			must(fs.Symlink(a, "fast", "b/f.txt", 0, 0))
			slow := strings.Repeat("long/", 40)
			must(fs.Symlink(a, "slow", slow, 0, 0))
			ok(t, fs.Rename(b, "f.txt", b, "g.txt"))
			want["a/b/g.txt"] = want["a/b/f.txt"]
			delete(want, "a/b/f.txt")
			ok(t, fs.Rename(a, "b", RootIno, "moved"))
			want["moved/g.txt"] = want["a/b/g.txt"]
			delete(want, "a/b/g.txt")
			x := must(fs.Create(RootIno, "x", 0o644, 0, 0))
			must(fs.WriteAt(x, []byte("xxx"), 0))
			ok(t, fs.Rename(RootIno, "x", RootIno, "hello.txt")) // replace
			want["hello.txt"] = []byte("xxx")
			e := must(fs.Mkdir(RootIno, "e", 0o755, 0, 0))
			_ = e
			ok(t, fs.Rename(RootIno, "moved", a, "e2"))
			want["a/e2/g.txt"] = want["moved/g.txt"]
			delete(want, "moved/g.txt")
			d2 := must(fs.Mkdir(a, "gone", 0o755, 0, 0))
			must(fs.Create(d2, "inner", 0o644, 0, 0))
			if err := fs.Rmdir(a, "gone"); err != syscall.ENOTEMPTY {
				t.Fatalf("rmdir of a non-empty dir: %v", err)
			}
			ok(t, fs.Unlink(d2, "inner"))
			ok(t, fs.Rmdir(a, "gone"))
			ok(t, fs.Unlink(RootIno, "big.bin"))
			ok(t, fs.Unlink(resolve(t, fs, "deep"), "sparse.bin"))
			mode := uint32(0o600)
			mt := time.Unix(1234567890, 5)
			ok(t, fs.Setattr(resolve(t, fs, "exec.sh"), SetAttr{Mode: &mode, Mtime: &mt}))
			if _, err := fs.Create(RootIno, "hard", 0o644, 0, 0); err != syscall.EEXIST {
				t.Fatalf("create over an existing name: %v", err)
			}
			if err := fs.Rename(RootIno, "a", resolve(t, fs, "a/e2"), "loop"); err != syscall.EINVAL {
				t.Fatalf("rename into own subtree: %v", err)
			}

			ok(t, fs.Close())
			dev.Close()
			fsck(t, img)

			fs, dev = mountFile(t, img, true)
			defer dev.Close()
			for name, w := range want {
				if got := readAll(t, fs, resolve(t, fs, name)); !bytes.Equal(got, w) {
					t.Errorf("%s: content differs after remount (len %d vs %d)", name, len(got), len(w))
				}
			}
			if got, _ := fs.Readlink(resolve(t, fs, "a/slow")); got != slow {
				t.Errorf("slow symlink = %q", got)
			}
			st := must(fs.Stat(resolve(t, fs, "exec.sh")))
			if st.Mode&0o777 != 0o600 || !st.Mtime.Equal(mt) {
				t.Errorf("setattr: mode %o mtime %v", st.Mode, st.Mtime)
			}
			if _, err := walk(fs, "many/file-with-a-longish-name-0003"); err != syscall.ENOENT {
				t.Errorf("unlinked name still there: %v", err)
			}
			if out := debugfs(t, img, false, "cat /a/e2/g.txt"); !strings.Contains(out, "hello world") {
				t.Errorf("debugfs cat: %q", out)
			}
		})
	}
}
