package jbd2

import (
	"bytes"
	"math/rand"
	"testing"
)

type memDev struct {
	data   []byte
	writes int
	limit  int // drop writes after this many; <0 never
}

func (d *memDev) ReadAt(p []byte, off int64) (int, error) { return copy(p, d.data[off:]), nil }
func (d *memDev) WriteAt(p []byte, off int64) (int, error) {
	d.writes++
	if d.limit >= 0 && d.writes > d.limit {
		return len(p), nil
	}
	return copy(d.data[off:], p), nil
}
func (d *memDev) Flush() error { return nil }

const (
	bs        = 1024
	jStart    = 100 // the journal occupies device blocks 100..355
	jLen      = 256
	devBlocks = 1024
)

func identity(l uint64) (uint64, error) { return jStart + l, nil }

// newDev makes a device holding an empty v2 journal superblock.
func newDev() *memDev {
	d := &memDev{data: make([]byte, devBlocks*bs), limit: -1}
	sb := d.data[jStart*bs:]
	putHeader(sb, typeSuperV2, 0)
	be.PutUint32(sb[sbBlockSize:], bs)
	be.PutUint32(sb[sbMaxLen:], jLen)
	be.PutUint32(sb[sbFirst:], 1)
	be.PutUint32(sb[sbSequence:], 7)
	copy(sb[sbUUID:], "0123456789abcdef")
	return d
}

func blocks(rnd *rand.Rand, n int) []Block {
	var out []Block
	for i := 0; i < n; i++ {
		b := make([]byte, bs)
		rnd.Read(b)
		if i == 1 {
			be.PutUint32(b, Magic) // must be escaped
		}
		out = append(out, Block{Nr: uint64(400 + i*3), Data: b})
	}
	return out
}

func TestCommitThenRecover(t *testing.T) {
	for _, csum := range []bool{false, true} {
		d := newDev()
		j, err := Open(d, bs, jLen, identity)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Start(csum, true); err != nil {
			t.Fatal(err)
		}
		// More blocks than one descriptor holds, to need two descriptors.
		bl := blocks(rand.New(rand.NewSource(1)), min(j.Capacity(), j.tagsPerDescriptor()+5))
		if err := j.Commit(bl); err != nil {
			t.Fatal(err)
		}
		// Crash before checkpoint: reopen and recover.
		j2, err := Open(d, bs, jLen, identity)
		if err != nil {
			t.Fatal(err)
		}
		if !j2.NeedsRecovery() {
			t.Fatal("journal does not need recovery after a commit")
		}
		st, err := j2.Recover()
		if err != nil || st.Transactions != 1 || st.Replayed != len(bl) {
			t.Fatalf("csum=%v: Recover = %+v, %v", csum, st, err)
		}
		for _, b := range bl {
			if !bytes.Equal(d.data[b.Nr*bs:(b.Nr+1)*bs], b.Data) {
				t.Fatalf("csum=%v: block %d not replayed", csum, b.Nr)
			}
		}
		if j2.NeedsRecovery() || j2.Sequence() != 8 {
			t.Fatalf("after recovery: needs=%v seq=%d", j2.NeedsRecovery(), j2.Sequence())
		}
	}
}

// A transaction whose commit block never reached the disk is not replayed,
// and a checkpointed one is not replayed again.
func TestTornAndCheckpointed(t *testing.T) {
	d := newDev()
	j, _ := Open(d, bs, jLen, identity)
	if err := j.Start(true, true); err != nil {
		t.Fatal(err)
	}
	bl := blocks(rand.New(rand.NewSource(2)), 3)
	j.Commit(bl)
	for _, b := range bl { // checkpoint
		d.WriteAt(b.Data, int64(b.Nr)*bs)
	}
	if err := j.Checkpointed(); err != nil {
		t.Fatal(err)
	}
	// Next transaction loses its commit block: 1 descriptor + 3 blocks land.
	bl2 := blocks(rand.New(rand.NewSource(3)), 3)
	d.limit = d.writes + 4
	j.Commit(bl2)
	d.limit = -1
	j2, _ := Open(d, bs, jLen, identity)
	st, err := j2.Recover()
	if err != nil || st.Transactions != 0 || st.Replayed != 0 {
		t.Fatalf("Recover = %+v, %v; want nothing replayed", st, err)
	}
	for _, b := range bl {
		if !bytes.Equal(d.data[b.Nr*bs:(b.Nr+1)*bs], b.Data) {
			t.Fatalf("checkpointed block %d changed", b.Nr)
		}
	}
}
