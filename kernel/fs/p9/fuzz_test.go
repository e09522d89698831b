package p9_test

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/p9"
)

// garbage is a server that answers Tversion properly and every other
// request with the fuzzer's bytes (given the right tag, so that the body
// decoders are reached).
type garbage struct{ reply []byte }

func (g *garbage) MaxMessageSize() int { return 1 << 16 }
func (g *garbage) Forget(uint16)       {}
func (g *garbage) RoundTrip(req, resp []byte) (int, error) {
	if req[4] == p9.Tversion {
		e := p9.NewMessage(p9.Rversion, p9.NoTag, 0)
		e.U32(1 << 16)
		e.Str(p9.Version)
		return copy(resp, e.Bytes()), nil
	}
	n := copy(resp, g.reply)
	if n >= 7 {
		copy(resp[5:7], req[5:7])
	}
	return n, nil
}

// FuzzReplies feeds arbitrary replies to every client call: each must
// return an error or a value, never panic or hang.
func FuzzReplies(f *testing.F) {
	ok := p9.NewMessage(p9.Rwalk, 0, 0)
	ok.U16(1)
	ok.Qid(p9.Qid{Type: p9.QTDir, Path: 1})
	f.Add(ok.Bytes())
	rd := p9.NewMessage(p9.Rreaddir, 0, 0)
	rd.Data([]byte{1, 2, 3})
	f.Add(rd.Bytes())
	le := p9.NewMessage(p9.Rlerror, 0, 0)
	le.U32(uint32(syscall.ENOENT))
	f.Add(le.Bytes())
	f.Fuzz(func(t *testing.T, reply []byte) {
		if len(reply) >= 4 {
			// Mostly keep the size field honest so bodies get parsed.
			binary.LittleEndian.PutUint32(reply, uint32(len(reply)))
		}
		g := &garbage{reply: reply}
		c, err := p9.NewClient(g, p9.Options{})
		if err != nil {
			t.Fatal(err)
		}
		root, err := c.Attach("u", "", 0)
		if err != nil {
			return
		}
		buf := make([]byte, 100)
		root.Walk("a", "b")
		root.Open(0)
		root.Create("x", 0, 0, 0)
		root.ReadAt(buf, 0)
		root.WriteAt(buf, 0)
		root.GetAttr(p9.GetAll)
		root.SetAttr(p9.SetAttr{})
		root.ReadDir(0, 4096)
		root.Mkdir("d", 0, 0)
		root.Symlink("s", "t", 0)
		root.Readlink()
		root.Link(root, "l")
		root.UnlinkAt("u", 0)
		root.RenameAt("a", root, "b")
		root.Fsync(true)
		root.Statfs()
		root.Clunk()
	})
}
