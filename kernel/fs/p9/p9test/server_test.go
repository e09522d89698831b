package p9test

import (
	"errors"
	"testing"

	"github.com/stardust-go/stardust/kernel/fs/p9"
)

// TestShortFsyncIsFatal checks the server is as strict as QEMU: a Tfsync
// without its datasync field (what 9P2000.u-era clients send) ends the
// session, so a client test would fail if the field were missing.
func TestShortFsyncIsFatal(t *testing.T) {
	s := New(t.TempDir())
	e := p9.NewMessage(p9.Tfsync, 1, 4)
	e.U32(0) // fid only
	if _, err := s.Handle(e.Bytes()); !errors.Is(err, errMalformed) {
		t.Fatalf("short Tfsync: %v, want a malformed-message error", err)
	}
	e = p9.NewMessage(p9.Tfsync, 1, 8)
	e.U32(0)
	e.U32(1)
	out, err := s.Handle(e.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, typ, _, _ := p9.Header(out); typ != p9.Rlerror {
		t.Fatalf("Tfsync on an unknown fid answered with type %d, want Rlerror", typ)
	}
}
