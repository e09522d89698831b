package p9test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/stardust-go/stardust/kernel/fs/p9"
)

// walk handles Twalk: fid[4] newfid[4] nwname[2] nwname*(wname[s]).
func (s *Server) walk(d *p9.Decoder, e *p9.Encoder) error {
	num, newNum, n := d.U32(), d.U32(), int(d.U16())
	names := make([]string, 0, n)
	for range n {
		names = append(names, d.Str())
	}
	if d.Err() != nil {
		return nil
	}
	if n > p9.MaxWalkElem {
		return syscall.EINVAL
	}
	f, err := s.fid(num)
	if err != nil {
		return err
	}
	if f.file != nil {
		return syscall.EBADF // an open fid may not be walked
	}
	cur := f.path
	var qids []p9.Qid
	for i, name := range names {
		next := cur
		switch name {
		case "..":
			if cur != "" {
				next = filepath.Dir(cur)
				if next == "." {
					next = ""
				}
			}
		default:
			if next, err = child(cur, name); err != nil {
				return err
			}
		}
		q, err := s.qid(next)
		if err != nil {
			if i == 0 {
				return err // the first name fails: an error, not a partial walk
			}
			break
		}
		qids = append(qids, q)
		cur = next
	}
	if len(qids) == len(names) {
		if err := s.setFid(newNum, &sfid{path: cur}, newNum == num); err != nil {
			return err
		}
	}
	e.U16(uint16(len(qids)))
	for _, q := range qids {
		e.Qid(q)
	}
	return nil
}

// openFlags keeps the open flags a server may pass to the host.
func openFlags(flags uint32) int {
	return int(flags) & (syscall.O_ACCMODE | syscall.O_APPEND | syscall.O_TRUNC | syscall.O_DIRECTORY |
		syscall.O_NOFOLLOW | syscall.O_SYNC | syscall.O_DSYNC | syscall.O_NONBLOCK | syscall.O_EXCL)
}

// open handles Tlopen (fid[4] flags[4]) and Tlcreate (fid[4] name[s]
// flags[4] mode[4] gid[4]); both reply qid[13] iounit[4].
func (s *Server) open(typ uint8, d *p9.Decoder, e *p9.Encoder) error {
	num := d.U32()
	var name string
	var mode uint32
	if typ == p9.Tlcreate {
		name = d.Str()
	}
	flags := d.U32()
	if typ == p9.Tlcreate {
		mode = d.U32()
		d.U32() // gid: we run as whoever runs the test
	}
	if d.Err() != nil {
		return nil
	}
	f, err := s.fid(num)
	if err != nil {
		return err
	}
	if f.file != nil {
		return syscall.EBADF
	}
	path := f.path
	oflags := openFlags(flags)
	if typ == p9.Tlcreate {
		if path, err = child(f.path, name); err != nil {
			return err
		}
		oflags |= syscall.O_CREAT
	}
	if s.ReadOnly && (oflags&syscall.O_ACCMODE != syscall.O_RDONLY || oflags&(syscall.O_TRUNC|syscall.O_CREAT) != 0) {
		return syscall.EACCES
	}
	file, err := os.OpenFile(s.host(path), oflags|syscall.O_CLOEXEC, os.FileMode(mode&0o777))
	if err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(file.Fd()), &st); err != nil {
		file.Close()
		return err
	}
	s.mu.Lock()
	f.path, f.file = path, file
	s.mu.Unlock()
	e.Qid(qidOf(&st))
	e.U32(0) // iounit 0: "use msize"
	return nil
}

// io handles Tread, Twrite and Treaddir on an open fid.
func (s *Server) io(typ uint8, d *p9.Decoder, e *p9.Encoder) error {
	num, off := d.U32(), int64(d.U64())
	var data []byte
	var count int
	if typ == p9.Twrite {
		data = d.Data()
	} else {
		count = int(d.U32())
	}
	if d.Err() != nil {
		return nil
	}
	f, err := s.fid(num)
	if err != nil {
		return err
	}
	if f.file == nil {
		return syscall.EBADF
	}
	s.mu.Lock()
	msize := s.msize
	s.mu.Unlock()
	switch typ {
	case p9.Tread:
		count = min(count, msize-11)
		buf := make([]byte, count)
		n, err := f.file.ReadAt(buf, off)
		if n == 0 && err != nil && !isEOF(err) {
			return err
		}
		e.Data(buf[:n])
	case p9.Twrite:
		if len(data) > msize-23 {
			return syscall.EINVAL
		}
		n, err := f.file.WriteAt(data, off)
		if err != nil {
			return err
		}
		e.U32(uint32(n))
	case p9.Treaddir:
		return s.readdir(f, uint64(off), min(count, msize-11), e)
	}
	return nil
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// readdir answers a Treaddir from a listing taken when the directory is
// first read (or re-read from offset 0). The cookie of entry i is i+1.
func (s *Server) readdir(f *sfid, off uint64, count int, e *p9.Encoder) error {
	if off == 0 || f.ents == nil {
		names, err := f.file.Readdirnames(-1)
		if err != nil {
			return err
		}
		f.file.Seek(0, 0) // a later rewind lists afresh
		sort.Strings(names)
		ents := []p9.Dirent{}
		for _, n := range append([]string{".", ".."}, names...) {
			rel := f.path
			if n == ".." {
				rel = filepath.Dir(f.path)
			} else if n != "." {
				rel = filepath.Join(f.path, n)
			}
			q, err := s.qid(rel)
			if err != nil {
				continue // removed meanwhile
			}
			typ := uint8(syscall.DT_REG)
			switch q.Type {
			case p9.QTDir:
				typ = syscall.DT_DIR
			case p9.QTSymlink:
				typ = syscall.DT_LNK
			}
			ents = append(ents, p9.Dirent{Qid: q, Offset: uint64(len(ents) + 1), Type: typ, Name: n})
		}
		f.ents = ents
	}
	// The reply body is count[4] then the packed entries; fill in the
	// count once we know how many fit.
	start := e.Len()
	e.U32(0)
	for i := int(off); i < len(f.ents); i++ {
		before := e.Len()
		e.Dirent(f.ents[i])
		if e.Len()-start-4 > count {
			e.Truncate(before)
			break
		}
	}
	b := e.Bytes()
	n := uint32(len(b) - start - 4)
	b[start], b[start+1], b[start+2], b[start+3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return nil
}

// setattr handles Tsetattr: fid[4] valid[4] mode[4] uid[4] gid[4]
// size[8] atime[16] mtime[16].
func (s *Server) setattr(d *p9.Decoder) error {
	num := d.U32()
	a := d.SetAttr()
	if d.Err() != nil {
		return nil
	}
	f, err := s.fid(num)
	if err != nil {
		return err
	}
	if err := s.writable(); err != nil {
		return err
	}
	path := s.host(f.path)
	if a.Valid&p9.SetAttrMode != 0 {
		if err := syscall.Chmod(path, a.Mode&0o7777); err != nil {
			return err
		}
	}
	if a.Valid&(p9.SetAttrUID|p9.SetAttrGID) != 0 {
		uid, gid := -1, -1
		if a.Valid&p9.SetAttrUID != 0 {
			uid = int(a.UID)
		}
		if a.Valid&p9.SetAttrGID != 0 {
			gid = int(a.GID)
		}
		if err := syscall.Lchown(path, uid, gid); err != nil {
			return err
		}
	}
	if a.Valid&p9.SetAttrSize != 0 {
		if err := syscall.Truncate(path, int64(a.Size)); err != nil {
			return err
		}
	}
	if a.Valid&(p9.SetAttrAtime|p9.SetAttrMtime) != 0 {
		const utimeNow, utimeOmit = 1<<30 - 1, 1<<30 - 2
		ts := [2]syscall.Timespec{{Nsec: utimeOmit}, {Nsec: utimeOmit}}
		for i, bits := range [2][2]uint32{{p9.SetAttrAtime, p9.SetAttrAtimeAt}, {p9.SetAttrMtime, p9.SetAttrMtimeAt}} {
			t := [2]syscall.Timespec{a.Atime, a.Mtime}[i]
			switch {
			case a.Valid&bits[1] != 0:
				ts[i] = t
			case a.Valid&bits[0] != 0:
				ts[i] = syscall.Timespec{Nsec: utimeNow}
			}
		}
		if err := syscall.UtimesNano(path, ts[:]); err != nil {
			return err
		}
	}
	return nil
}

// dirOp handles the requests that change a directory.
func (s *Server) dirOp(typ uint8, d *p9.Decoder, e *p9.Encoder) error {
	switch typ {
	case p9.Tmkdir: // dfid[4] name[s] mode[4] gid[4] → qid
		num, name, mode, _ := d.U32(), d.Str(), d.U32(), d.U32()
		if d.Err() != nil {
			return nil
		}
		return s.create(num, name, e, func(p string) error { return syscall.Mkdir(p, mode&0o7777) })
	case p9.Tsymlink: // fid[4] name[s] symtgt[s] gid[4] → qid
		num, name, target, _ := d.U32(), d.Str(), d.Str(), d.U32()
		if d.Err() != nil {
			return nil
		}
		return s.create(num, name, e, func(p string) error { return syscall.Symlink(target, p) })
	case p9.Tlink: // dfid[4] fid[4] name[s]
		dnum, num, name := d.U32(), d.U32(), d.Str()
		if d.Err() != nil {
			return nil
		}
		t, err := s.fid(num)
		if err != nil {
			return err
		}
		return s.create(dnum, name, nil, func(p string) error { return syscall.Link(s.host(t.path), p) })
	case p9.Tunlinkat: // dirfd[4] name[s] flags[4]
		num, name, flags := d.U32(), d.Str(), d.U32()
		if d.Err() != nil {
			return nil
		}
		dir, err := s.fid(num)
		if err != nil {
			return err
		}
		p, err := child(dir.path, name)
		if err != nil {
			return err
		}
		if err := s.writable(); err != nil {
			return err
		}
		if flags&p9.AT_REMOVEDIR != 0 {
			return syscall.Rmdir(s.host(p))
		}
		// unlink(2) of a directory is EISDIR on Linux.
		return syscall.Unlink(s.host(p))
	case p9.Trenameat: // olddirfid[4] oldname[s] newdirfid[4] newname[s]
		onum, oname, nnum, nname := d.U32(), d.Str(), d.U32(), d.Str()
		if d.Err() != nil {
			return nil
		}
		od, err := s.fid(onum)
		if err != nil {
			return err
		}
		nd, err := s.fid(nnum)
		if err != nil {
			return err
		}
		op, err := child(od.path, oname)
		if err != nil {
			return err
		}
		np, err := child(nd.path, nname)
		if err != nil {
			return err
		}
		if err := s.writable(); err != nil {
			return err
		}
		if err := syscall.Rename(s.host(op), s.host(np)); err != nil {
			return err
		}
		s.renamed(op, np)
		return nil
	}
	d.Take(len(d.Rest())) // unknown: swallow, answer EOPNOTSUPP
	return syscall.EOPNOTSUPP
}

// create runs mk on the host path of name in directory fid num and
// replies with the new file's qid (if e is not nil).
func (s *Server) create(num uint32, name string, e *p9.Encoder, mk func(hostPath string) error) error {
	dir, err := s.fid(num)
	if err != nil {
		return err
	}
	p, err := child(dir.path, name)
	if err != nil {
		return err
	}
	// Linux reports EEXIST before a permission error for creation.
	if _, err := s.qid(p); err == nil {
		return syscall.EEXIST
	}
	if err := s.writable(); err != nil {
		return err
	}
	if err := mk(s.host(p)); err != nil {
		return err
	}
	if e != nil {
		q, err := s.qid(p)
		if err != nil {
			return err
		}
		e.Qid(q)
	}
	return nil
}

// renamed moves the fids that named old or anything below it, as QEMU
// does, so a fid keeps naming the same file across a rename.
func (s *Server) renamed(old, new string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fids {
		switch {
		case f.path == old:
			f.path = new
		case strings.HasPrefix(f.path, old+"/"):
			f.path = new + f.path[len(old):]
		}
	}
}
