package pipe

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fdesc"
)

func newPipe(t *testing.T, flags int) (*end, *end) {
	t.Helper()
	r, w, err := New(flags)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*end), w.(*end)
}

func TestBasicAndEOF(t *testing.T) {
	r, w := newPipe(t, 0)
	if n, err := w.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write %d %v", n, err)
	}
	buf := make([]byte, 3)
	if n, _ := r.Read(buf); string(buf[:n]) != "hel" {
		t.Fatalf("got %q", buf[:n])
	}
	if _, err := r.Write([]byte("x")); err != syscall.EBADF {
		t.Errorf("write on read end: %v", err)
	}
	if _, err := w.Read(buf); err != syscall.EBADF {
		t.Errorf("read on write end: %v", err)
	}
	w.Close()
	if n, _ := r.Read(buf); string(buf[:n]) != "lo" {
		t.Fatalf("got %q", buf[:n])
	}
	if n, err := r.Read(buf); n != 0 || err != nil {
		t.Fatalf("after writer closed: %d %v, want EOF", n, err)
	}
	if r.Readiness() != fdesc.PollHup {
		t.Errorf("readiness %#x, want POLLHUP", r.Readiness())
	}
}

func TestEPIPE(t *testing.T) {
	r, w := newPipe(t, 0)
	r.Close()
	if _, err := w.Write([]byte("x")); err != syscall.EPIPE {
		t.Fatalf("got %v, want EPIPE", err)
	}
	if w.Readiness()&fdesc.PollErr == 0 {
		t.Error("write end not POLLERR without readers")
	}
}

func TestNonblocking(t *testing.T) {
	r, w := newPipe(t, syscall.O_NONBLOCK)
	if _, err := r.Read(make([]byte, 1)); err != syscall.EAGAIN {
		t.Fatalf("empty read: %v", err)
	}
	big := make([]byte, Capacity+100)
	if n, err := w.Write(big); n != Capacity || err != nil {
		t.Fatalf("big nonblocking write: %d %v, want partial %d", n, err, Capacity)
	}
	if _, err := w.Write([]byte("x")); err != syscall.EAGAIN {
		t.Fatalf("full write: %v", err)
	}
	if w.Readiness()&fdesc.PollOut != 0 {
		t.Error("full pipe reported writable")
	}
	// Free 100 bytes: a 200-byte write (<= PIPE_BUF) must not be split.
	r.Read(make([]byte, 100))
	if _, err := w.Write(make([]byte, 200)); err != syscall.EAGAIN {
		t.Fatalf("atomic write into 100 free bytes: %v, want EAGAIN", err)
	}
	if n, err := w.Write(make([]byte, 100)); n != 100 || err != nil {
		t.Fatalf("exact fit: %d %v", n, err)
	}
	if r.Flags()&syscall.O_NONBLOCK == 0 || r.Flags()&syscall.O_ACCMODE != syscall.O_RDONLY {
		t.Errorf("flags %#x", r.Flags())
	}
}

func TestBlockingWakeups(t *testing.T) {
	r, w := newPipe(t, 0)
	got := make(chan string)
	go func() {
		buf := make([]byte, 10)
		n, _ := r.Read(buf)
		got <- string(buf[:n])
	}()
	time.Sleep(10 * time.Millisecond) // let the reader block
	w.Write([]byte("wake"))
	if s := <-got; s != "wake" {
		t.Fatalf("got %q", s)
	}
	// A blocked writer is released by a reader closing: EPIPE or a count.
	w.Write(make([]byte, Capacity))
	done := make(chan error)
	go func() { _, err := w.Write([]byte("more")); done <- err }()
	time.Sleep(10 * time.Millisecond)
	r.Close()
	if err := <-done; err != syscall.EPIPE {
		t.Fatalf("blocked writer after reader closed: %v", err)
	}
}

// TestStream sends random data through the pipe with concurrent writers
// of PIPE_BUF-sized records; each record must arrive whole.
func TestStream(t *testing.T) {
	r, w := newPipe(t, 0)
	const writers, records = 4, 200
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := bytes.Repeat([]byte{byte('A' + i)}, PipeBuf)
			for range records {
				if n, err := w.Write(rec); n != PipeBuf || err != nil {
					t.Errorf("write %d %v", n, err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); w.Close() }()
	data, err := io.ReadAll(readerOf{r})
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != writers*records*PipeBuf {
		t.Fatalf("got %d bytes", len(data))
	}
	for off := 0; off < len(data); off += PipeBuf {
		if !bytes.Equal(data[off:off+PipeBuf], bytes.Repeat(data[off:off+1], PipeBuf)) {
			t.Fatalf("record at %d interleaved", off)
		}
	}
	// And a single large write of random bytes arrives intact.
	r2, w2 := newPipe(t, 0)
	want := make([]byte, 3*Capacity+123)
	rand.Read(want)
	go func() { w2.Write(want); w2.Close() }()
	got, _ := io.ReadAll(readerOf{r2})
	if !bytes.Equal(got, want) {
		t.Fatal("large write corrupted")
	}
}

type readerOf struct{ e *end }

func (r readerOf) Read(p []byte) (int, error) {
	n, err := r.e.Read(p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}

func TestWatch(t *testing.T) {
	r, w := newPipe(t, 0)
	var calls atomic.Int32
	cancel := r.Watch(func() { calls.Add(1) })
	if r.Readiness()&fdesc.PollIn != 0 {
		t.Fatal("empty pipe readable")
	}
	w.Write([]byte("x"))
	if calls.Load() == 0 || r.Readiness()&fdesc.PollIn == 0 {
		t.Fatal("write did not notify or make the pipe readable")
	}
	cancel()
	before := calls.Load()
	w.Write([]byte("y"))
	if calls.Load() != before {
		t.Fatal("cancelled watcher called")
	}
	var st syscall.Stat_t
	w.Stat(&st)
	if st.Mode&syscall.S_IFMT != syscall.S_IFIFO || st.Size != 0 || r.Available() != 2 {
		t.Errorf("stat mode %#o size %d", st.Mode, st.Size)
	}
}

func TestInterrupt(t *testing.T) {
	r, w := newPipe(t, 0)
	intr := make(chan struct{})
	done := make(chan error)
	go func() { _, err := r.ReadIntr(make([]byte, 1), intr); done <- err }()
	time.Sleep(10 * time.Millisecond)
	close(intr)
	if err := <-done; err != syscall.EINTR {
		t.Fatalf("interrupted read: %v", err)
	}
	// A write that made progress reports its count, not EINTR.
	intr2 := make(chan struct{})
	go func() {
		n, err := w.WriteIntr(make([]byte, Capacity+10), intr2)
		if err != nil {
			done <- err
			return
		}
		if n != Capacity {
			done <- fmt.Errorf("wrote %d", n)
			return
		}
		done <- nil
	}()
	time.Sleep(10 * time.Millisecond)
	close(intr2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFlagsLikeLinux compares F_GETFL of both ends with a host pipe.
func TestFlagsLikeLinux(t *testing.T) {
	for _, flags := range []int{0, syscall.O_NONBLOCK} {
		var fds [2]int
		if err := syscall.Pipe2(fds[:], flags|syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		r, w := newPipe(t, flags)
		for i, e := range []*end{r, w} {
			hf, _, _ := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[i]), syscall.F_GETFL, 0)
			if int(hf) != e.Flags() {
				t.Errorf("pipe2(%#x) end %d: F_GETFL %#x, linux %#x", flags, i, e.Flags(), hf)
			}
			syscall.Close(fds[i])
		}
	}
}
