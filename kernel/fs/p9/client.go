// Package p9 is a 9P2000.L client: the protocol QEMU's virtio-9p device
// (and diod, and gVisor's gofer) speak to share a host directory with a
// guest. It is written from the protocol description (the 9P2000.L notes
// in Linux's Documentation/filesystems/9p.rst and diod's protocol.md), not
// derived from another implementation.
//
// Execution context: service context. Every call is an ordinary blocking
// Go function; requests from many goroutines are in flight at once, each
// under its own tag. Messages travel over a Transport: a byte stream
// (NewStream, for tests and sockets) or a virtqueue (virtio.P9 in
// kernel/drivers/virtio). The VFS adapter is the subpackage p9fs; a small
// host-side server for tests is p9test.
//
// Errors the server reports (Rlerror) come back as syscall.Errno values
// in Linux numbering, which is what 9P2000.L carries. Transport failures
// and malformed replies are *ProtocolError values.
package p9

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// Transport carries 9P messages to a server and back.
type Transport interface {
	// MaxMessageSize is the largest message the transport can carry in
	// either direction; the client proposes it as msize.
	MaxMessageSize() int
	// RoundTrip sends req, a complete T-message with its tag set, and
	// waits for the reply with the same tag, which it copies into resp
	// and returns the length of. It is called from many goroutines at
	// once, with distinct tags. A reply longer than resp is an error.
	RoundTrip(req, resp []byte) (int, error)
	// Forget says no reply will come for tag: the server has answered a
	// Tflush of it. A RoundTrip still waiting for tag returns ErrFlushed.
	// A transport whose device always completes each request (virtio)
	// can ignore it.
	Forget(tag uint16)
}

// ErrFlushed is RoundTrip's error for a request that was flushed before
// any reply to it arrived.
var ErrFlushed = errors.New("p9: request flushed")

// ProtocolError is a failure below the file system: the transport broke,
// or the server sent something this client does not understand.
type ProtocolError struct {
	Op  string
	Err error
}

func (e *ProtocolError) Error() string { return "p9: " + e.Op + ": " + e.Err.Error() }
func (e *ProtocolError) Unwrap() error { return e.Err }

// Options configures NewClient.
type Options struct {
	// MaxMessageSize caps msize below the transport's maximum; 0 means
	// the transport's. A larger msize means fewer round trips for big
	// reads and writes (QEMU accepts up to a few MiB).
	MaxMessageSize int
	// MaxRequests bounds the requests in flight (and so the tags in
	// use); default 64. The transport may bound them further.
	MaxRequests int
}

// DefaultMaxMessageSize is the msize a transport proposes unless told
// otherwise: 512 KiB, large enough that a 512 KiB read is one round trip
// and small enough for a few buffers of it to be cheap in a guest.
const DefaultMaxMessageSize = 512 << 10

// minMessageSize is the smallest msize that can carry every message
// this client sends (a Twalk of 16 names of 255 bytes is about 4 KiB).
const minMessageSize = 8192

// Client is one 9P session.
type Client struct {
	t     Transport
	msize int
	tags  chan uint16 // free tags; its capacity bounds the requests in flight

	fidMu    sync.Mutex
	nextFid  uint32
	freeFids []uint32

	clunkMu  sync.Mutex
	clunkq   []uint32 // fids whose Go values became unreachable
	clunking bool     // a clunker goroutine is running
}

// NewClient negotiates the protocol (Tversion) over t.
func NewClient(t Transport, opts Options) (*Client, error) {
	msize := t.MaxMessageSize()
	if opts.MaxMessageSize > 0 && opts.MaxMessageSize < msize {
		msize = opts.MaxMessageSize
	}
	if msize < minMessageSize {
		return nil, &ProtocolError{"version", fmt.Errorf("msize %d below %d", msize, minMessageSize)}
	}
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = 64
	}
	c := &Client{t: t, msize: msize, tags: make(chan uint16, opts.MaxRequests)}
	for i := range opts.MaxRequests {
		c.tags <- uint16(i)
	}

	// Tversion: msize[4] version[s]. It carries NOTAG and resets the
	// session, so nothing else may be in flight.
	e := NewMessage(Tversion, NoTag, 4+2+len(Version))
	e.U32(uint32(msize))
	e.Str(Version)
	d, err := c.roundTrip(context.Background(), e.Bytes(), NoTag, 256)
	if err != nil {
		return nil, err
	}
	smsize, version := int(d.U32()), d.Str()
	if err := d.Err(); err != nil {
		return nil, &ProtocolError{"version", err}
	}
	if version != Version {
		return nil, &ProtocolError{"version", fmt.Errorf("server speaks %q, not %q", version, Version)}
	}
	if smsize > msize || smsize < minMessageSize {
		return nil, &ProtocolError{"version", fmt.Errorf("server msize %d unusable (asked for %d)", smsize, msize)}
	}
	c.msize = smsize
	return c, nil
}

// MessageSize is the negotiated msize.
func (c *Client) MessageSize() int { return c.msize }

// maxRead and maxWrite are the most data one Tread/Twrite carries.
func (c *Client) maxRead() int  { return c.msize - (headerSize + 4) }
func (c *Client) maxWrite() int { return c.msize - ioHeader }

// smallReply is the reply buffer for messages whose replies are short
// (everything except Rread, Rreaddir and Rreadlink).
const smallReply = 512

// rpc sends the message built in e, using a free tag, and returns a
// decoder over the reply body. An Rlerror becomes a syscall.Errno.
func (c *Client) rpc(ctx context.Context, e *Encoder, replySize int) (*Decoder, error) {
	var tag uint16
	select {
	case tag = <-c.tags:
	case <-ctx.Done():
		return nil, syscall.EINTR
	}
	req := e.Bytes()
	binary.LittleEndian.PutUint16(req[5:], tag)
	d, err := c.roundTrip(ctx, req, tag, replySize)
	c.tags <- tag
	return d, err
}

// roundTrip does one exchange with tag already set in req. If ctx is
// cancelled first, it flushes the request (Tflush) and reports EINTR,
// unless the reply won the race: a reply that arrives before Rflush means
// the operation happened, and the protocol says to honour it.
func (c *Client) roundTrip(ctx context.Context, req []byte, tag uint16, replySize int) (*Decoder, error) {
	resp := make([]byte, min(replySize, c.msize))
	if ctx.Done() == nil {
		n, err := c.t.RoundTrip(req, resp)
		return c.check(req, resp, n, err)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := c.t.RoundTrip(req, resp)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return c.check(req, resp, r.n, r.err)
	case <-ctx.Done():
	}
	if err := c.flush(tag); err != nil {
		// The session is broken; wait for the transport to fail the
		// original request too, so the tag is really free.
		r := <-done
		if r.err == nil {
			return c.check(req, resp, r.n, r.err)
		}
		return nil, err
	}
	c.t.Forget(tag)
	if r := <-done; r.err == nil && r.n > 0 {
		return c.check(req, resp, r.n, r.err)
	}
	return nil, syscall.EINTR
}

// flush sends Tflush(oldtag) and waits for Rflush. It cannot itself be
// interrupted: until Rflush the old tag must not be reused.
func (c *Client) flush(oldtag uint16) error {
	e := NewMessage(Tflush, 0, 2)
	e.U16(oldtag)
	_, err := c.rpc(context.Background(), e, smallReply)
	return err
}

// check validates a reply against its request and turns Rlerror into an
// Errno.
func (c *Client) check(req, resp []byte, n int, err error) (*Decoder, error) {
	op := msgName(req[4])
	if err != nil {
		return nil, &ProtocolError{op, err}
	}
	if n < 0 || n > len(resp) {
		return nil, &ProtocolError{op, fmt.Errorf("transport returned %d bytes for a %d-byte buffer", n, len(resp))}
	}
	size, typ, tag, ok := Header(resp[:n])
	switch {
	case !ok || int(size) != n:
		return nil, &ProtocolError{op, fmt.Errorf("bad reply length %d (header says %d)", n, size)}
	case tag != binary.LittleEndian.Uint16(req[5:]):
		return nil, &ProtocolError{op, fmt.Errorf("reply tag %d for request tag %d", tag, binary.LittleEndian.Uint16(req[5:]))}
	case typ == Rlerror:
		d := NewDecoder(resp[:n])
		ecode := d.U32()
		if d.Err() != nil || ecode == 0 {
			return nil, &ProtocolError{op, errors.New("malformed Rlerror")}
		}
		return nil, syscall.Errno(ecode)
	case typ != req[4]+1:
		return nil, &ProtocolError{op, fmt.Errorf("reply type %d to request type %d", typ, req[4])}
	}
	return NewDecoder(resp[:n]), nil
}

// done finishes decoding a reply: a short reply is a protocol error.
func done(op string, d *Decoder) error {
	if err := d.Err(); err != nil {
		return &ProtocolError{op, err}
	}
	return nil
}

var msgNames = map[uint8]string{
	Tstatfs: "statfs", Tlopen: "lopen", Tlcreate: "lcreate", Tsymlink: "symlink",
	Treadlink: "readlink", Tgetattr: "getattr", Tsetattr: "setattr", Treaddir: "readdir",
	Tfsync: "fsync", Tlink: "link", Tmkdir: "mkdir", Trenameat: "renameat",
	Tunlinkat: "unlinkat", Tversion: "version", Tattach: "attach", Tflush: "flush",
	Twalk: "walk", Tread: "read", Twrite: "write", Tclunk: "clunk",
}

func msgName(t uint8) string {
	if s, ok := msgNames[t]; ok {
		return s
	}
	return fmt.Sprintf("message %d", t)
}

// allocFid returns an unused fid number.
func (c *Client) allocFid() uint32 {
	c.fidMu.Lock()
	defer c.fidMu.Unlock()
	if n := len(c.freeFids); n > 0 {
		f := c.freeFids[n-1]
		c.freeFids = c.freeFids[:n-1]
		return f
	}
	f := c.nextFid
	c.nextFid++
	return f
}

// releaseFid makes a fid number reusable once the server forgot it.
func (c *Client) releaseFid(num uint32) {
	c.fidMu.Lock()
	c.freeFids = append(c.freeFids, num)
	c.fidMu.Unlock()
}

// Attach starts a session as user uname (NoUID: by name only) on the
// export aname (QEMU ignores it) and returns a fid for its root.
func (c *Client) Attach(uname, aname string, uid uint32) (*Fid, error) {
	f := c.newFid()
	// Tattach: fid[4] afid[4] uname[s] aname[s] n_uname[4]
	e := NewMessage(Tattach, 0, 16+len(uname)+len(aname))
	e.U32(f.num)
	e.U32(NoFid) // no authentication
	e.Str(uname)
	e.Str(aname)
	e.U32(uid)
	d, err := c.rpc(context.Background(), e, smallReply)
	if err != nil {
		c.releaseFid(f.num)
		return nil, err
	}
	f.qid = d.Qid()
	if err := done("attach", d); err != nil {
		return nil, err
	}
	return f, nil
}

// clunkLater queues a fid for Tclunk by a goroutine of the client's: it
// is called from GC cleanups, which must not block, so the queue is an
// unbounded slice rather than a channel.
func (c *Client) clunkLater(num uint32) {
	c.clunkMu.Lock()
	c.clunkq = append(c.clunkq, num)
	start := !c.clunking
	c.clunking = true
	c.clunkMu.Unlock()
	if start {
		go c.clunker()
	}
}

// clunker drains the queue and exits when it is empty; clunkLater starts
// a new one next time.
func (c *Client) clunker() {
	for {
		c.clunkMu.Lock()
		if len(c.clunkq) == 0 {
			c.clunking = false
			c.clunkMu.Unlock()
			return
		}
		num := c.clunkq[0]
		c.clunkq = c.clunkq[1:]
		c.clunkMu.Unlock()
		c.clunk(num)
	}
}

// clunk tells the server to forget fid num; the number is reusable after
// that whatever the reply ("even if the clunk returns an error, the fid
// is no longer valid").
func (c *Client) clunk(num uint32) error {
	e := NewMessage(Tclunk, 0, 4)
	e.U32(num)
	_, err := c.rpc(context.Background(), e, smallReply)
	var perr *ProtocolError
	if !errors.As(err, &perr) {
		c.releaseFid(num) // a broken session might still know it
	}
	return err
}
