package p9

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Stream is a Transport over a byte stream (a pipe, a socket, a serial
// line): messages are written whole, one at a time, and a reader
// goroutine matches replies to waiting requests by tag, so replies may
// come back in any order.
type Stream struct {
	rw   io.ReadWriter
	max  int
	wmu  sync.Mutex // one message written at a time
	mu   sync.Mutex
	wait map[uint16]*waiter
	err  error // set once the reader stopped; fails everything after
}

type waiter struct {
	resp []byte
	n    int
	err  error
	done chan struct{}
}

// NewStream starts a transport over rw carrying messages of up to max
// bytes (0: DefaultMaxMessageSize). If rw is an io.Closer, Close closes
// it.
func NewStream(rw io.ReadWriter, max int) *Stream {
	if max <= 0 {
		max = DefaultMaxMessageSize
	}
	s := &Stream{rw: rw, max: max, wait: map[uint16]*waiter{}}
	go s.reader()
	return s
}

// MaxMessageSize implements Transport.
func (s *Stream) MaxMessageSize() int { return s.max }

// RoundTrip implements Transport.
func (s *Stream) RoundTrip(req, resp []byte) (int, error) {
	_, _, tag, ok := Header(req)
	if !ok {
		return 0, errors.New("p9: request too short")
	}
	w := &waiter{resp: resp, done: make(chan struct{})}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return 0, s.err
	}
	if s.wait[tag] != nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("p9: tag %d already in flight", tag)
	}
	s.wait[tag] = w
	s.mu.Unlock()

	s.wmu.Lock()
	_, err := s.rw.Write(req)
	s.wmu.Unlock()
	if err != nil {
		s.fail(err)
	}
	<-w.done
	return w.n, w.err
}

// Forget implements Transport.
func (s *Stream) Forget(tag uint16) {
	s.mu.Lock()
	w := s.wait[tag]
	delete(s.wait, tag)
	s.mu.Unlock()
	if w != nil {
		w.err = ErrFlushed
		close(w.done)
	}
}

// Close closes the stream if it can be closed; requests in flight fail.
func (s *Stream) Close() error {
	var err error
	if c, ok := s.rw.(io.Closer); ok {
		err = c.Close()
	}
	s.fail(io.ErrClosedPipe)
	return err
}

// fail ends the transport: every waiting and later request gets err.
func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	ws := s.wait
	s.wait = map[uint16]*waiter{}
	s.mu.Unlock()
	for _, w := range ws {
		w.err = err
		close(w.done)
	}
}

// reader receives replies. Each is read straight into its waiter's
// buffer: the header first (to learn the tag), then the body.
func (s *Stream) reader() {
	var hdr [headerSize]byte
	for {
		if _, err := io.ReadFull(s.rw, hdr[:]); err != nil {
			s.fail(err)
			return
		}
		size := int(binary.LittleEndian.Uint32(hdr[:]))
		tag := binary.LittleEndian.Uint16(hdr[5:])
		if size < headerSize || size > s.max {
			s.fail(fmt.Errorf("p9: reply of %d bytes", size))
			return
		}
		s.mu.Lock()
		w := s.wait[tag]
		delete(s.wait, tag)
		s.mu.Unlock()
		var dst []byte
		switch {
		case w == nil:
			// A reply nobody waits for (a flushed request whose
			// reply crossed the Rflush): read and drop it.
			dst = make([]byte, size)
		case size > len(w.resp):
			w.err = fmt.Errorf("p9: reply of %d bytes for a %d-byte buffer", size, len(w.resp))
			dst = make([]byte, size)
		default:
			dst = w.resp[:size]
		}
		copy(dst, hdr[:])
		if _, err := io.ReadFull(s.rw, dst[headerSize:]); err != nil {
			if w != nil {
				w.err = err
				close(w.done)
			}
			s.fail(err)
			return
		}
		if w != nil {
			w.n = size
			close(w.done)
		}
	}
}
