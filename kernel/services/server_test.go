package services

import (
	"syscall"
	"testing"
	"unsafe"

	"github.com/stardust-go/stardust/kernel/bridge"
	"github.com/stardust-go/stardust/kernel/fdesc"
)

// fakeSocket is a non-blocking stream with queued bytes; readable while
// any are left. The socket methods it does not override panic (nil
// embedded interface): the tests must not reach them.
type fakeSocket struct {
	socket
	data  []byte
	flags int
}

func (s *fakeSocket) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, syscall.EAGAIN
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}
func (s *fakeSocket) Write(p []byte) (int, error)   { return len(p), nil }
func (s *fakeSocket) Close() error                  { return nil }
func (s *fakeSocket) Stat(st *syscall.Stat_t) error { st.Mode = syscall.S_IFSOCK; return nil }
func (s *fakeSocket) Flags() int                    { return s.flags }
func (s *fakeSocket) SetFlags(f int) error          { s.flags = f; return nil }
func (s *fakeSocket) Watch(func()) (cancel func())  { return func() {} }
func (s *fakeSocket) Readiness() uint32 {
	r := uint32(fdesc.PollOut)
	if len(s.data) > 0 {
		r |= fdesc.PollIn
	}
	return r
}

type answer struct {
	slot      int32
	result    int64
	readiness uint32
	withReady bool
}

// answers records what handle answers instead of making the system calls.
func answers(t *testing.T) *[]answer {
	var got []answer
	doneCall = func(slot int32, res int64) { got = append(got, answer{slot: slot, result: res}) }
	doneReadyCall = func(slot int32, res int64, r uint32) {
		got = append(got, answer{slot: slot, result: res, readiness: r, withReady: true})
	}
	t.Cleanup(func() { doneCall, doneReadyCall = bridge.Done, bridge.DoneReady })
	return &got
}

// A read that drains a socket answers with the readiness after it (not
// readable), so the kernel can answer the program's next read EAGAIN
// itself; a call that is not a data transfer leaves readiness to the
// notifier.
func TestAnswerCarriesReadiness(t *testing.T) {
	got := answers(t)
	s := &fakeSocket{data: []byte("GET / HTTP/1.1\r\n\r\n")}
	h, pollable := add(s)
	if !pollable {
		t.Fatal("the fake socket is not pollable")
	}
	defer release(h)

	buf := make([]byte, 64)
	r := req(bridge.OpRead, h, 0, addr(buf), uint64(len(buf)))
	r.Slot, r.Flags = 7, syscall.O_NONBLOCK
	if !quick(r) {
		t.Error("a read of a non-blocking socket is not answered in the serve loop")
	}
	handle(r)
	var st syscall.Stat_t
	f := req(bridge.OpFstat, h, 0, uint64(uintptr(unsafe.Pointer(&st))))
	f.Slot, f.Flags = 8, syscall.O_NONBLOCK
	handle(f)

	want := []answer{
		{slot: 7, result: 18, readiness: fdesc.PollOut, withReady: true},
		{slot: 8, result: 0},
	}
	if len(*got) != len(want) {
		t.Fatalf("answers %+v, want %+v", *got, want)
	}
	for i := range want {
		if (*got)[i] != want[i] {
			t.Errorf("answer %d: %+v, want %+v", i, (*got)[i], want[i])
		}
	}
}

// Only calls on non-blocking sockets are answered in the serve loop:
// blocking ones, and files, may wait and get a goroutine of their own.
func TestQuick(t *testing.T) {
	s := &fakeSocket{}
	h, _ := add(s)
	defer release(h)
	v, _ := setup(t)
	_, fh := open(t, v, syscall.O_RDWR|syscall.O_CREAT)
	defer release(fh)
	for _, tc := range []struct {
		op     int32
		h      int32
		flags  int32
		quick  bool
		reason string
	}{
		{bridge.OpRead, h, syscall.O_NONBLOCK, true, "non-blocking socket read"},
		{bridge.OpWrite, h, syscall.O_NONBLOCK, true, "non-blocking socket write"},
		{bridge.OpAccept, h, syscall.O_NONBLOCK, true, "non-blocking accept"},
		{bridge.OpRead, h, 0, false, "blocking socket read"},
		{bridge.OpClose, h, syscall.O_NONBLOCK, false, "close"},
		{bridge.OpRead, fh, syscall.O_NONBLOCK, false, "file read"},
	} {
		r := req(tc.op, tc.h)
		r.Flags = tc.flags
		if got := quick(r); got != tc.quick {
			t.Errorf("%s: quick = %v, want %v", tc.reason, got, tc.quick)
		}
	}
}
