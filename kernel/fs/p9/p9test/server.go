// Package p9test is a small 9P2000.L server that exports a host
// directory, for testing the client (kernel/fs/p9), the VFS adapter
// (p9fs) and the virtio-9p transport on the host. It behaves like QEMU's
// "local" backend with security_model=none: every operation is the
// matching host system call on the path a fid names, errors are the host's
// errno values, and a malformed message ends the session (QEMU resets the
// device) instead of being answered.
//
// Execution context: host only (tests). It is never linked into a guest.
package p9test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fs/p9"
)

// Server exports one host directory.
type Server struct {
	root string

	// ReadOnly makes every change fail with EACCES, as a share the
	// server's user may not write does.
	ReadOnly bool
	// MaxMessageSize caps the negotiated msize (default 1 MiB).
	MaxMessageSize int
	// Hook, if set, runs before each request is handled, in the
	// request's goroutine; cancel is closed if the request is flushed.
	// Tests use it to hold requests in flight.
	Hook func(typ uint8, cancel <-chan struct{})

	mu     sync.Mutex
	fids   map[uint32]*sfid
	msize  int
	counts map[uint8]int
	syncs  []uint32 // datasync values of the Tfsyncs received
}

// sfid is what a fid names: a path relative to the root ("" is the root)
// and, once opened, the open file.
type sfid struct {
	path string
	file *os.File
	ents []p9.Dirent // directory listing, taken at the first Treaddir
}

// New serves dir.
func New(dir string) *Server {
	return &Server{root: dir, fids: map[uint32]*sfid{}, counts: map[uint8]int{}, msize: 8192}
}

// Count is how many requests of type typ the server received.
func (s *Server) Count(typ uint8) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[typ]
}

// Fids is the number of fids the client holds.
func (s *Server) Fids() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fids)
}

// Syncs returns the datasync field of every Tfsync so far.
func (s *Server) Syncs() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.syncs...)
}

// errMalformed ends a session, as QEMU does on a message it cannot parse.
var errMalformed = errors.New("p9test: malformed message")

// Serve answers messages on rw until it fails or a malformed message
// arrives (the error says which). Requests are handled concurrently and
// answered in completion order.
func (s *Server) Serve(rw io.ReadWriter) error {
	var (
		wmu      sync.Mutex // guards writes and inflight
		inflight = map[uint16]*request{}
		fatal    = make(chan error, 1)
	)
	reply := func(tag uint16, msg []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		if r := inflight[tag]; r != nil {
			delete(inflight, tag)
			if r.flushed {
				return // the client was told this one is gone
			}
		}
		rw.Write(msg)
	}
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(rw, hdr[:]); err != nil {
			return err
		}
		size := int(uint32(hdr[0]) | uint32(hdr[1])<<8 | uint32(hdr[2])<<16 | uint32(hdr[3])<<24)
		if size < 7 || size > 16<<20 {
			return errMalformed
		}
		msg := make([]byte, size)
		copy(msg, hdr[:])
		if _, err := io.ReadFull(rw, msg[4:]); err != nil {
			return err
		}
		_, typ, tag, _ := p9.Header(msg)
		select {
		case err := <-fatal:
			return err
		default:
		}
		if typ == p9.Tflush {
			old := p9.NewDecoder(msg).U16()
			s.count(typ)
			wmu.Lock()
			if r := inflight[old]; r != nil && !r.flushed {
				r.flushed = true
				close(r.cancel)
			}
			rw.Write(p9.NewMessage(p9.Rflush, tag, 0).Bytes())
			wmu.Unlock()
			continue
		}
		r := &request{cancel: make(chan struct{})}
		wmu.Lock()
		inflight[tag] = r
		wmu.Unlock()
		if typ == p9.Tversion {
			// Tversion resets the session: handle it in order.
			out, err := s.handle(msg, r.cancel)
			if err != nil {
				return err
			}
			reply(tag, out)
			continue
		}
		go func() {
			out, err := s.handle(msg, r.cancel)
			if err != nil {
				select {
				case fatal <- err:
				default:
				}
				if c, ok := rw.(io.Closer); ok {
					c.Close()
				}
				return
			}
			reply(tag, out)
		}()
	}
}

type request struct {
	cancel  chan struct{}
	flushed bool
}

// Handle answers one request synchronously (for transports that carry
// one request per buffer, like a simulated virtio device). A malformed
// request is an error.
func (s *Server) Handle(msg []byte) ([]byte, error) {
	return s.handle(msg, nil)
}

func (s *Server) count(typ uint8) {
	s.mu.Lock()
	s.counts[typ]++
	s.mu.Unlock()
}

// handle decodes one request, runs it and encodes the reply.
func (s *Server) handle(msg []byte, cancel <-chan struct{}) ([]byte, error) {
	_, typ, tag, ok := p9.Header(msg)
	if !ok {
		return nil, errMalformed
	}
	s.count(typ)
	if s.Hook != nil {
		s.Hook(typ, cancel)
	}
	d := p9.NewDecoder(msg)
	e := p9.NewMessage(typ+1, tag, 64)
	err := s.dispatch(typ, d, e)
	if d.Err() != nil || len(d.Rest()) != 0 {
		return nil, fmt.Errorf("%w: type %d, %d bytes", errMalformed, typ, len(msg))
	}
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			errno = syscall.EIO
		}
		e = p9.NewMessage(p9.Rlerror, tag, 4)
		e.U32(uint32(errno))
	}
	return e.Bytes(), nil
}

// fid looks a fid up.
func (s *Server) fid(num uint32) (*sfid, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fids[num]
	if f == nil {
		return nil, syscall.EBADF
	}
	return f, nil
}

// setFid binds num to f; EBADF if num is in use (unless replace).
func (s *Server) setFid(num uint32, f *sfid, replace bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fids[num] != nil && !replace {
		return syscall.EBADF
	}
	s.fids[num] = f
	return nil
}

func (s *Server) host(rel string) string { return filepath.Join(s.root, rel) }

// child is the relative path of name in directory dir; names are single
// elements.
func child(dir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return "", syscall.EINVAL
	}
	return filepath.Join(dir, name), nil
}

func (s *Server) qid(rel string) (p9.Qid, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(s.host(rel), &st); err != nil {
		return p9.Qid{}, err
	}
	return qidOf(&st), nil
}

func qidOf(st *syscall.Stat_t) p9.Qid {
	q := p9.Qid{Path: st.Ino, Version: uint32(st.Mtim.Nsec)}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		q.Type = p9.QTDir
	case syscall.S_IFLNK:
		q.Type = p9.QTSymlink
	}
	return q
}

func (s *Server) writable() error {
	if s.ReadOnly {
		return syscall.EACCES
	}
	return nil
}

// dispatch runs one request: d is positioned after the header, e is the
// reply being built. A decode error is noticed by the caller.
func (s *Server) dispatch(typ uint8, d *p9.Decoder, e *p9.Encoder) error {
	switch typ {
	case p9.Tversion:
		msize, version := int(d.U32()), d.Str()
		max := s.MaxMessageSize
		if max == 0 {
			max = 1 << 20
		}
		s.mu.Lock()
		for _, f := range s.fids {
			if f.file != nil {
				f.file.Close()
			}
		}
		s.fids = map[uint32]*sfid{}
		s.msize = min(msize, max)
		e.U32(uint32(s.msize))
		s.mu.Unlock()
		if version != p9.Version {
			version = "unknown"
		}
		e.Str(version)
		return nil
	case p9.Tattach:
		fid, _, _, _, _ := d.U32(), d.U32(), d.Str(), d.Str(), d.U32()
		q, err := s.qid("")
		if err != nil {
			return err
		}
		if err := s.setFid(fid, &sfid{}, false); err != nil {
			return err
		}
		e.Qid(q)
		return nil
	case p9.Twalk:
		return s.walk(d, e)
	case p9.Tclunk:
		num := d.U32()
		s.mu.Lock()
		f := s.fids[num]
		delete(s.fids, num)
		s.mu.Unlock()
		if f == nil {
			return syscall.EBADF
		}
		if f.file != nil {
			f.file.Close()
		}
		return nil
	case p9.Tlopen, p9.Tlcreate:
		return s.open(typ, d, e)
	case p9.Tread, p9.Twrite, p9.Treaddir:
		return s.io(typ, d, e)
	case p9.Tgetattr:
		f, err := s.fid(d.U32())
		d.U64() // request mask: we always fill in the basic set
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(s.host(f.path), &st); err != nil {
			return err
		}
		e.Attr(p9.Attr{
			Valid: p9.GetBasic, Qid: qidOf(&st), Mode: st.Mode, UID: st.Uid, GID: st.Gid,
			Nlink: st.Nlink, Rdev: st.Rdev, Size: uint64(st.Size), Blksize: uint64(st.Blksize),
			Blocks: uint64(st.Blocks), Atime: st.Atim, Mtime: st.Mtim, Ctime: st.Ctim,
		})
		return nil
	case p9.Tsetattr:
		return s.setattr(d)
	case p9.Tfsync:
		f, err := s.fid(d.U32())
		datasync := d.U32()
		if d.Err() != nil {
			return nil // a Tfsync without datasync: the caller ends the session
		}
		s.mu.Lock()
		s.syncs = append(s.syncs, datasync)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if f.file == nil {
			return syscall.EBADF
		}
		if datasync != 0 {
			return syscall.Fdatasync(int(f.file.Fd()))
		}
		return f.file.Sync()
	case p9.Tstatfs:
		f, err := s.fid(d.U32())
		if err != nil {
			return err
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.host(f.path), &st); err != nil {
			return err
		}
		e.Statfs(p9.Statfs{Type: uint32(st.Type), Bsize: uint32(st.Bsize), Blocks: st.Blocks,
			Bfree: st.Bfree, Bavail: st.Bavail, Files: st.Files, Ffree: st.Ffree,
			Fsid:    uint64(uint32(st.Fsid.X__val[0])) | uint64(uint32(st.Fsid.X__val[1]))<<32,
			Namelen: uint32(st.Namelen)})
		return nil
	case p9.Treadlink:
		f, err := s.fid(d.U32())
		if err != nil {
			return err
		}
		t, err := os.Readlink(s.host(f.path))
		if err != nil {
			return err
		}
		e.Str(t)
		return nil
	}
	return s.dirOp(typ, d, e)
}
