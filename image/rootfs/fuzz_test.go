package rootfs

import (
	"io/fs"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic: it
// either rejects the input or returns an Image whose every accessor works.
// Seeds are valid images (so mutations explore near-valid inputs) and a
// few truncated ones.
func FuzzParse(f *testing.F) {
	valid := pack(f, sampleEntries()...)
	f.Add(valid)
	f.Add(valid[:headerSize])
	f.Add(valid[:headerSize+3*entrySize])
	f.Add(pack(f))
	f.Add(pack(f, Entry{Path: "/l", Mode: fs.ModeSymlink, Target: "/l"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := Parse(data)
		if err != nil {
			if im != nil {
				t.Fatal("Parse returned both an image and an error")
			}
			return
		}
		exercise(t, im)
	})
}

// exercise touches every entry through every accessor and resolves every
// path, following links, so anything Parse let through is shown safe.
func exercise(t *testing.T, im *Image) {
	for i := 0; i < im.Len(); i++ {
		n := im.Node(uint32(i))
		_ = n.Name()
		_ = n.Mode()
		_ = n.Size()
		_ = n.ModTime()
		_ = n.Data()
		_ = n.Target()
		for c := 0; c < n.NumChildren(); c++ {
			ch := n.Child(c)
			if got, ok := n.Lookup(ch.Name()); !ok || got.Index() != ch.Index() {
				t.Fatalf("lookup of child %q failed", ch.Name())
			}
		}
	}
	_ = fs.WalkDir(im, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			_, _ = im.Stat(p)
			_, _ = im.ReadFile(p)
		}
		return nil
	})
}

// TestMutations flips every byte of a valid image in turn; each variant
// must be rejected or survive exercise. This is the deterministic cousin
// of FuzzParse that runs in every `go test`.
func TestMutations(t *testing.T) {
	valid := pack(t, sampleEntries()...)
	limit := int(le.Uint64(valid[hDataOff:])) // header, index and strings
	for i := 0; i < limit; i++ {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), valid...)
			b[i] ^= x
			if im, err := Parse(b); err == nil {
				exercise(t, im)
			}
		}
	}
}
