package eventfd

import (
	"encoding/binary"
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

func TestCounterAndNonBlocking(t *testing.T) {
	e, err := New(3, EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if e.Readiness() != fdesc.PollIn|fdesc.PollOut {
		t.Fatalf("readiness %#x", e.Readiness())
	}
	e.Write(u64(4))
	buf := make([]byte, 8)
	if n, err := e.Read(buf); n != 8 || err != nil || binary.LittleEndian.Uint64(buf) != 7 {
		t.Fatalf("read = %d %v %d", n, err, binary.LittleEndian.Uint64(buf))
	}
	if _, err := e.Read(buf); err != syscall.EAGAIN {
		t.Fatalf("empty read: %v", err)
	}
	if e.Readiness()&fdesc.PollIn != 0 {
		t.Fatal("readable at 0")
	}
	if _, err := e.Read(buf[:4]); err != syscall.EINVAL {
		t.Fatalf("short read: %v", err)
	}
	if _, err := e.Write(u64(math.MaxUint64)); err != syscall.EINVAL {
		t.Fatalf("write of 2^64-1: %v", err)
	}
	e.Write(u64(math.MaxUint64 - 1))
	if e.Readiness()&fdesc.PollOut != 0 {
		t.Fatal("writable when full")
	}
	if _, err := e.Write(u64(1)); err != syscall.EAGAIN {
		t.Fatalf("overflowing write: %v", err)
	}
	if _, err := New(0, 0x100); err != syscall.EINVAL {
		t.Fatalf("bad flags: %v", err)
	}
}

func TestSemaphore(t *testing.T) {
	e, _ := New(2, EFD_SEMAPHORE|EFD_NONBLOCK)
	buf := make([]byte, 8)
	for i := 0; i < 2; i++ {
		if _, err := e.Read(buf); err != nil || binary.LittleEndian.Uint64(buf) != 1 {
			t.Fatalf("semaphore read %d: %v %v", i, buf, err)
		}
	}
	if _, err := e.Read(buf); err != syscall.EAGAIN {
		t.Fatalf("third read: %v", err)
	}
}

func TestBlockingReadWokenByWriteAndWatch(t *testing.T) {
	e, _ := New(0, 0)
	fired := make(chan struct{}, 10)
	cancel := e.Watch(func() { fired <- struct{}{} })
	done := make(chan uint64)
	go func() {
		buf := make([]byte, 8)
		e.Read(buf)
		done <- binary.LittleEndian.Uint64(buf)
	}()
	select {
	case <-done:
		t.Fatal("read did not block")
	case <-time.After(20 * time.Millisecond):
	}
	e.Write(u64(5))
	if v := <-done; v != 5 {
		t.Fatalf("read %d", v)
	}
	select {
	case <-fired:
	case <-time.After(time.Second):
		t.Fatal("watch callback not called")
	}
	cancel()
	for len(fired) > 0 {
		<-fired
	}
	e.Write(u64(1))
	if len(fired) != 0 {
		t.Fatal("cancelled watch still called")
	}
}
