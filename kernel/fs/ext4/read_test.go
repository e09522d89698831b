package ext4

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// makeTree builds a host directory exercising the reader: small and big
// files, a sparse file with thousands of extents (a depth-2 extent tree),
// a directory big enough to be hashed, fast and slow symlinks, odd modes.
func makeTree(t *testing.T) (string, map[string][]byte) {
	dir := t.TempDir()
	files := map[string][]byte{}
	put := func(name string, data []byte, mode os.FileMode) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		files[name] = data
	}
	rnd := rand.New(rand.NewSource(1))
	rb := func(n int) []byte { b := make([]byte, n); rnd.Read(b); return b }
	put("hello.txt", []byte("hello, stardust\n"), 0o644)
	put("empty", nil, 0o600)
	put("exec.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	put("big.bin", rb(3<<20+123), 0o644)
	// Islands of data separated by holes: mke2fs -d keeps holes, so every
	// island is its own extent.
	sparse := make([]byte, 1500*8192)
	for i := 0; i < 1500; i++ {
		copy(sparse[i*8192:], rb(1024))
	}
	put("deep/sparse.bin", sparse, 0o640)
	for i := 0; i < 600; i++ {
		put(fmt.Sprintf("many/file-with-a-longish-name-%04d", i), []byte(fmt.Sprint(i)), 0o644)
	}
	os.Symlink("hello.txt", filepath.Join(dir, "fastlink"))
	long := "a/" + string(bytes.Repeat([]byte("x"), 100)) + "/target"
	os.Symlink(long, filepath.Join(dir, "slowlink"))
	return dir, files
}

func TestReadMke2fsImage(t *testing.T) {
	src, files := makeTree(t)
	for _, bs := range []string{"1024", "4096"} {
		t.Run("bs"+bs, func(t *testing.T) {
			img := mkImage(t, 64<<10, src, "-b", bs)
			reindex(t, img)
			fs, dev := mountFile(t, img, true)
			defer dev.Close()
			for name, want := range files {
				ino := resolve(t, fs, name)
				if got := readAll(t, fs, ino); !bytes.Equal(got, want) {
					t.Fatalf("%s: content differs (len %d vs %d)", name, len(got), len(want))
				}
				st, _ := fs.Stat(ino)
				fi, _ := os.Stat(filepath.Join(src, name))
				if st.Mode&0o7777 != uint32(fi.Mode().Perm()) || st.Mode&S_IFMT != S_IFREG {
					t.Errorf("%s: mode %o, want %o", name, st.Mode, fi.Mode().Perm())
				}
			}
			sp, _ := fs.iget(resolve(t, fs, "deep/sparse.bin"))
			if d := le.Uint16(sp.raw[iBlock+6:]); d < 1 {
				t.Errorf("sparse.bin extent depth %d, want a deep tree", d)
			}
			many, _ := fs.iget(resolve(t, fs, "many"))
			if many.flags()&flagIndex == 0 {
				t.Errorf("many/ is not an htree directory; the test lost coverage")
			}
			ents, err := fs.ReadDir(resolve(t, fs, "many"))
			if err != nil || len(ents) != 602 {
				t.Fatalf("ReadDir(many) = %d entries, %v", len(ents), err)
			}
			for link, want := range map[string]string{"fastlink": "hello.txt",
				"slowlink": "a/" + string(bytes.Repeat([]byte("x"), 100)) + "/target"} {
				got, err := fs.Readlink(resolve(t, fs, link))
				if err != nil || got != want {
					t.Errorf("readlink %s = %q, %v", link, got, err)
				}
			}
			if _, err := fs.Lookup(RootIno, "nope"); err != syscall.ENOENT {
				t.Errorf("lookup of a missing name: %v", err)
			}
			if _, err := fs.Create(RootIno, "x", 0o644, 0, 0); err != syscall.EROFS {
				t.Errorf("create on a read-only mount: %v", err)
			}
		})
	}
}
