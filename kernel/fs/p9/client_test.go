package p9_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stardust-go/stardust/kernel/fs/p9"
	"github.com/stardust-go/stardust/kernel/fs/p9/p9test"
)

// session connects a client to a p9test server exporting a fresh
// temporary directory, over an in-memory pipe.
type session struct {
	dir  string
	srv  *p9test.Server
	c    *p9.Client
	root *p9.Fid
}

func newSession(t *testing.T, configure func(*p9test.Server)) *session {
	t.Helper()
	dir := t.TempDir()
	srv := p9test.New(dir)
	if configure != nil {
		configure(srv)
	}
	cEnd, sEnd := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sEnd) }()
	tr := p9.NewStream(cEnd, 0)
	t.Cleanup(func() {
		tr.Close()
		sEnd.Close()
		<-served
	})
	c, err := p9.NewClient(tr, p9.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := c.Attach("root", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return &session{dir: dir, srv: srv, c: c, root: root}
}

func (s *session) write(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func TestVersion(t *testing.T) {
	s := newSession(t, func(srv *p9test.Server) { srv.MaxMessageSize = 64 << 10 })
	if got := s.c.MessageSize(); got != 64<<10 {
		t.Errorf("msize = %d, want the server's 64 KiB", got)
	}
	if s.srv.Count(p9.Tversion) != 1 {
		t.Errorf("Tversion count %d", s.srv.Count(p9.Tversion))
	}
	if s.root.Qid().Type != p9.QTDir {
		t.Errorf("root qid %+v is not a directory", s.root.Qid())
	}
}

// fakeServer answers Tversion with a fixed version string.
type versionOnly struct {
	version string
	bytes.Buffer
}

func (v *versionOnly) MaxMessageSize() int { return 1 << 20 }
func (v *versionOnly) Forget(uint16)       {}
func (v *versionOnly) RoundTrip(req, resp []byte) (int, error) {
	d := p9.NewDecoder(req)
	if msize, ver := d.U32(), d.Str(); msize != 1<<20 || ver != "9P2000.L" {
		return 0, errors.New("client sent a wrong Tversion")
	}
	e := p9.NewMessage(p9.Rversion, p9.NoTag, 0)
	e.U32(8192)
	e.Str(v.version)
	return copy(resp, e.Bytes()), nil
}

func TestVersionRefused(t *testing.T) {
	if _, err := p9.NewClient(&versionOnly{version: "unknown"}, p9.Options{}); err == nil {
		t.Fatal("a server answering \"unknown\" was accepted")
	}
	c, err := p9.NewClient(&versionOnly{version: "9P2000.L"}, p9.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MessageSize() != 8192 {
		t.Errorf("msize %d, want the server's 8192", c.MessageSize())
	}
}

func TestWalkOpenReadWrite(t *testing.T) {
	s := newSession(t, nil)
	os.Mkdir(filepath.Join(s.dir, "sub"), 0o755)
	s.write(t, "sub/hello", []byte("hello, world"))

	f, err := s.root.Walk("sub", "hello")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Clunk()
	if err := f.Open(syscall.O_RDWR); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := f.ReadAt(buf, 7)
	if err != nil || string(buf[:n]) != "world" {
		t.Fatalf("ReadAt = %q, %v", buf[:n], err)
	}
	if n, err := f.ReadAt(buf, 1000); n != 0 || err != nil {
		t.Fatalf("ReadAt past EOF = %d, %v", n, err)
	}
	if n, err := f.WriteAt([]byte("WORLD!"), 7); n != 6 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.dir, "sub/hello")); string(got) != "hello, WORLD!" {
		t.Fatalf("host sees %q", got)
	}

	_, err = s.root.Walk("sub", "missing")
	wantErr(t, "walk to a missing name", err, syscall.ENOENT)
	_, err = s.root.Walk("missing", "x")
	wantErr(t, "walk through a missing directory", err, syscall.ENOENT)

	// ".." goes up; a walk of no names clones.
	up, err := s.root.Walk("sub", "..")
	if err != nil || up.Qid().Path != s.root.Qid().Path {
		t.Fatalf("walk sub/.. = %+v, %v; root is %+v", up.Qid(), err, s.root.Qid())
	}
	clone, err := up.Walk()
	if err != nil || clone.Qid() != up.Qid() {
		t.Fatalf("clone = %v", err)
	}

	// More than 16 names take several Twalks.
	deep := s.dir
	var names []string
	for i := range 20 {
		name := string(rune('a' + i))
		deep = filepath.Join(deep, name)
		names = append(names, name)
	}
	os.MkdirAll(deep, 0o755)
	before := s.srv.Count(p9.Twalk)
	d, err := s.root.Walk(names...)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.srv.Count(p9.Twalk) - before; got != 2 {
		t.Errorf("a 20-name walk took %d Twalks, want 2", got)
	}
	var st syscall.Stat_t
	syscall.Stat(deep, &st)
	if d.Qid().Path != st.Ino {
		t.Errorf("deep walk qid %+v, host inode %d", d.Qid(), st.Ino)
	}
}

func TestLargeIOSplitByMsize(t *testing.T) {
	const msize = 16 << 10
	s := newSession(t, func(srv *p9test.Server) { srv.MaxMessageSize = msize })
	data := make([]byte, 1<<20+123)
	rand.New(rand.NewSource(1)).Read(data)
	s.write(t, "big", data)
	f, _ := s.root.Walk("big")
	if err := f.Open(syscall.O_RDWR); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data)+100)
	n, err := f.ReadAt(got, 0)
	if err != nil || n != len(data) || !bytes.Equal(got[:n], data) {
		t.Fatalf("read %d bytes, err %v; equal %v", n, err, bytes.Equal(got[:n], data))
	}
	perRead := msize - 11
	if want := (len(data) + perRead - 1) / perRead; s.srv.Count(p9.Tread) != want {
		t.Errorf("%d Treads for %d bytes at msize %d, want %d", s.srv.Count(p9.Tread), len(data), msize, want)
	}

	for i := range data {
		data[i] ^= 0xff
	}
	if n, err := f.WriteAt(data, 0); n != len(data) || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	perWrite := msize - 23
	if want := (len(data) + perWrite - 1) / perWrite; s.srv.Count(p9.Twrite) != want {
		t.Errorf("%d Twrites, want %d", s.srv.Count(p9.Twrite), want)
	}
	host, _ := os.ReadFile(filepath.Join(s.dir, "big"))
	if !bytes.Equal(host, data) {
		t.Error("host file differs after the large write")
	}
}

func TestDirectoryOperations(t *testing.T) {
	s := newSession(t, nil)
	r := s.root

	q, err := r.Mkdir("d", 0o750, 0)
	if err != nil || q.Type != p9.QTDir {
		t.Fatalf("mkdir = %+v, %v", q, err)
	}
	if fi, _ := os.Stat(filepath.Join(s.dir, "d")); fi == nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("host dir %v", fi)
	}
	_, err = r.Mkdir("d", 0o755, 0)
	wantErr(t, "mkdir existing", err, syscall.EEXIST)

	// Create a file in d through Tlcreate: the fid becomes the file.
	d, _ := r.Walk("d")
	nf, _ := d.Walk()
	if err := nf.Create("f", syscall.O_RDWR, 0o640, 0); err != nil {
		t.Fatal(err)
	}
	nf.WriteAt([]byte("data"), 0)
	// Tfsync carries datasync: fdatasync then fsync.
	if err := nf.Fsync(true); err != nil {
		t.Fatal(err)
	}
	if err := nf.Fsync(false); err != nil {
		t.Fatal(err)
	}
	if got := s.srv.Syncs(); len(got) != 2 || got[0] != 1 || got[1] != 0 {
		t.Errorf("server saw datasync values %v, want [1 0]", got)
	}
	nf.Clunk()
	err = func() error { f, _ := d.Walk(); return f.Create("f", syscall.O_RDWR|syscall.O_EXCL, 0o640, 0) }()
	wantErr(t, "exclusive create of an existing file", err, syscall.EEXIST)

	// Readdir lists ".", ".." and the file with its type.
	od, _ := r.Walk("d")
	if err := od.Open(syscall.O_RDONLY | syscall.O_DIRECTORY); err != nil {
		t.Fatal(err)
	}
	ents, err := od.ReadDirAll()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if len(ents) != 3 || ents[2].Name != "f" || ents[2].Type != syscall.DT_REG {
		t.Fatalf("readdir = %v", names)
	}
	od.Clunk()

	err = r.UnlinkAt("d", p9.AT_REMOVEDIR)
	wantErr(t, "rmdir of a non-empty directory", err, syscall.ENOTEMPTY)
	err = r.UnlinkAt("d", 0)
	wantErr(t, "unlink of a directory", err, syscall.EISDIR)
	err = r.UnlinkAt("nothing", 0)
	wantErr(t, "unlink of a missing name", err, syscall.ENOENT)

	// Symlink and readlink.
	if _, err := r.Symlink("ln", "d/f", 0); err != nil {
		t.Fatal(err)
	}
	ln, _ := r.Walk("ln")
	if ln.Qid().Type != p9.QTSymlink {
		t.Errorf("symlink qid %+v", ln.Qid())
	}
	if target, err := ln.Readlink(); err != nil || target != "d/f" {
		t.Fatalf("readlink = %q, %v", target, err)
	}

	// Hard link: two names, one inode, nlink 2.
	f, _ := r.Walk("d", "f")
	if err := r.Link(f, "hard"); err != nil {
		t.Fatal(err)
	}
	a, err := f.GetAttr(p9.GetBasic)
	if err != nil || a.Nlink != 2 || a.Size != 4 || a.Mode != syscall.S_IFREG|0o640 {
		t.Fatalf("getattr = %+v, %v", a, err)
	}

	// Rename across directories; the fid follows the file.
	if err := d.RenameAt("f", r, "moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if a2, err := f.GetAttr(p9.GetBasic); err != nil || a2.Qid.Path != a.Qid.Path {
		t.Fatalf("fid after rename: %+v, %v", a2, err)
	}

	// Setattr: mode, size, explicit mtime.
	mt := syscall.Timespec{Sec: 1_000_000_000, Nsec: 5}
	err = f.SetAttr(p9.SetAttr{Valid: p9.SetAttrMode | p9.SetAttrSize | p9.SetAttrMtime | p9.SetAttrMtimeAt,
		Mode: 0o600, Size: 2, Mtime: mt})
	if err != nil {
		t.Fatal(err)
	}
	a, _ = f.GetAttr(p9.GetBasic)
	if a.Mode&0o777 != 0o600 || a.Size != 2 || a.Mtime != mt {
		t.Fatalf("after setattr: mode %o size %d mtime %v", a.Mode, a.Size, a.Mtime)
	}

	st, err := r.Statfs()
	if err != nil || st.Bsize == 0 || st.Blocks == 0 || st.Namelen == 0 {
		t.Fatalf("statfs = %+v, %v", st, err)
	}

	if err := r.UnlinkAt("d", p9.AT_REMOVEDIR); err != nil {
		t.Fatal(err)
	}
	err = r.UnlinkAt("moved", p9.AT_REMOVEDIR)
	wantErr(t, "rmdir of a file", err, syscall.ENOTDIR)
}

func TestReadOnlyShare(t *testing.T) {
	s := newSession(t, func(srv *p9test.Server) { srv.ReadOnly = true })
	s.write(t, "f", []byte("x"))
	_, err := s.root.Mkdir("d", 0o755, 0)
	wantErr(t, "mkdir", err, syscall.EACCES)
	f, _ := s.root.Walk("f")
	wantErr(t, "open for writing", f.Open(syscall.O_WRONLY), syscall.EACCES)
	if err := f.Open(syscall.O_RDONLY); err != nil {
		t.Fatalf("open for reading: %v", err)
	}
	wantErr(t, "unlink", s.root.UnlinkAt("f", 0), syscall.EACCES)
}

// TestConcurrentRequests holds every Tread at the server until eight are
// in flight at once: a client that sent one request at a time would never
// get there.
func TestConcurrentRequests(t *testing.T) {
	const n = 8
	var waiting atomic.Int32
	all := make(chan struct{})
	s := newSession(t, func(srv *p9test.Server) {
		srv.Hook = func(typ uint8, _ <-chan struct{}) {
			if typ != p9.Tread {
				return
			}
			if waiting.Add(1) == n {
				close(all)
			}
			select {
			case <-all:
			case <-time.After(5 * time.Second):
			}
		}
	})
	for i := range n {
		s.write(t, string(rune('a'+i)), bytes.Repeat([]byte{byte(i)}, 1000+i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := s.root.Walk(string(rune('a' + i)))
			if err == nil {
				err = f.Open(syscall.O_RDONLY)
			}
			if err != nil {
				errs <- err
				return
			}
			defer f.Clunk()
			buf := make([]byte, 2000)
			got, err := f.ReadAt(buf, 0)
			if err != nil || got != 1000+i || buf[0] != byte(i) {
				errs <- errors.New("wrong data")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case <-all:
	default:
		t.Fatalf("only %d reads were ever in flight together", waiting.Load())
	}
}

// TestFlush cancels a read the server holds: the client sends Tflush,
// reports EINTR, and the session stays usable.
func TestFlush(t *testing.T) {
	s := newSession(t, func(srv *p9test.Server) {
		srv.Hook = func(typ uint8, cancel <-chan struct{}) {
			if typ == p9.Tread && cancel != nil {
				<-cancel
			}
		}
	})
	s.write(t, "f", []byte("data"))
	f, _ := s.root.Walk("f")
	f.Open(syscall.O_RDONLY)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.ReadAtContext(ctx, make([]byte, 10), 0)
	wantErr(t, "cancelled read", err, syscall.EINTR)
	if s.srv.Count(p9.Tflush) != 1 {
		t.Errorf("%d Tflush sent", s.srv.Count(p9.Tflush))
	}
	if _, err := f.GetAttr(p9.GetBasic); err != nil {
		t.Fatalf("session after flush: %v", err)
	}
}

// TestAutoClunk drops fids without clunking them and expects the garbage
// collector to have them clunked.
func TestAutoClunk(t *testing.T) {
	s := newSession(t, nil)
	base := s.srv.Fids()
	for range 50 {
		f, err := s.root.Walk()
		if err != nil {
			t.Fatal(err)
		}
		f.AutoClunk()
	}
	if s.srv.Fids() != base+50 {
		t.Fatalf("server holds %d fids, want %d", s.srv.Fids(), base+50)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.srv.Fids() != base && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if s.srv.Fids() != base {
		t.Fatalf("%d fids still held after GC", s.srv.Fids()-base)
	}
}
