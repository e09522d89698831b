package linux

import (
	"syscall"
	"testing"

	"github.com/stardust-go/stardust/kernel/bridge"
)

// The kernel answers a non-blocking read EAGAIN itself only when the
// service's last word on the socket says nothing is there; an answer's
// readiness does not overwrite a SysReady report made while the request
// ran (it may be older).
func TestServiceReadiness(t *testing.T) {
	const h = 42
	t.Cleanup(func() { svcPollable[h], svcReady[h], svcReadySeq[h] = false, 0, 0 })
	svcPollable[h] = true
	e := &fdEntry{kind: fdService, obj: h, flags: oNonblock}

	noteReady(h, epollIn|epollOut)
	if wouldBlock(e, 0) {
		t.Fatal("readable socket: wouldBlock")
	}

	// A read drains it; the answer says so.
	r := &requestSlot{req: bridge.Request{Handle: h}, seq: readySeq}
	doneReadiness(r, epollOut|bridge.ReadinessValid)
	if !wouldBlock(e, 0) {
		t.Fatal("drained socket (readiness from the answer): not wouldBlock")
	}
	// ... unless the fd blocks, the caller reads the error queue, or the
	// socket has an error or hung up.
	if wouldBlock(&fdEntry{kind: fdService, obj: h}, 0) {
		t.Error("blocking fd: wouldBlock")
	}
	if !wouldBlock(&fdEntry{kind: fdService, obj: h}, syscall.MSG_DONTWAIT) {
		t.Error("MSG_DONTWAIT on a drained socket: not wouldBlock")
	}
	if wouldBlock(e, syscall.MSG_ERRQUEUE) {
		t.Error("MSG_ERRQUEUE: wouldBlock")
	}

	// Data arrives while another read runs: the SysReady report is newer
	// than that read's answer, which must not hide it.
	r = &requestSlot{req: bridge.Request{Handle: h}, seq: readySeq}
	noteReady(h, epollIn|epollOut)
	doneReadiness(r, epollOut|bridge.ReadinessValid)
	if wouldBlock(e, 0) {
		t.Error("an answer older than a SysReady report overwrote it")
	}

	// An answer without readiness changes nothing; a hang-up is never EAGAIN.
	doneReadiness(&requestSlot{req: bridge.Request{Handle: h}, seq: readySeq}, 0)
	noteReady(h, epollHup)
	if wouldBlock(e, 0) {
		t.Error("hung-up socket: wouldBlock")
	}
	if wouldBlock(&fdEntry{kind: fdService, obj: 43, flags: oNonblock}, 0) {
		t.Error("a description that is not pollable (a file): wouldBlock")
	}
}
