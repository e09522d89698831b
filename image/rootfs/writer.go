package rootfs

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"time"
)

// Entry describes one item for Pack. Exactly one of the kinds applies,
// chosen by Mode's type bits: a directory (fs.ModeDir), a symlink
// (fs.ModeSymlink, Target set) or a regular file (Data).
type Entry struct {
	Path    string      // guest path, e.g. "/etc/hosts"
	Mode    fs.FileMode // type and permission bits
	Data    []byte      // regular file contents
	Target  string      // symlink target
	ModTime time.Time
}

// Pack writes an image holding entries (and the directories they need) to
// dst. It is a shorthand for a Builder.
func Pack(dst io.Writer, entries ...Entry) error {
	var b Builder
	for _, e := range entries {
		var err error
		switch {
		case e.Mode.IsDir():
			err = b.Mkdir(e.Path, e.Mode)
		case e.Mode&fs.ModeSymlink != 0:
			err = b.AddSymlink(e.Path, e.Target)
		case e.Mode.IsRegular():
			err = b.AddFile(e.Path, e.Data, e.Mode)
		default:
			err = fmt.Errorf("rootfs: %s: unsupported mode %v", e.Path, e.Mode)
		}
		if err != nil {
			return err
		}
		if !e.ModTime.IsZero() {
			b.setTime(e.Path, e.ModTime)
		}
	}
	_, err := b.WriteTo(dst)
	return err
}

func (b *Builder) setTime(p string, t time.Time) {
	elems, _ := cleanGuest(p)
	n := b.rootNode()
	for _, e := range elems {
		if n = n.children[e]; n == nil {
			return
		}
	}
	n.mtime = t
}

// layoutEntry is a node with its place in the image.
type layoutEntry struct {
	node    *bnode
	name    string
	nameOff uint64
	a, b    uint64
}

// WriteTo writes the image. It lays the tree out breadth-first, then
// writes header, index, string table and the page-aligned file data.
// Files added from the host are read now; one that changed size since it
// was added makes WriteTo fail rather than write a wrong index.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	// 1. Breadth-first order: each directory's children are contiguous
	// and sorted, which is what the reader's validation and lookup need.
	entries := []layoutEntry{{node: b.rootNode()}}
	for i := 0; i < len(entries); i++ {
		n := entries[i].node
		if n.children == nil {
			continue
		}
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		sort.Strings(names)
		entries[i].a, entries[i].b = uint64(len(entries)), uint64(len(names))
		for _, name := range names {
			entries = append(entries, layoutEntry{node: n.children[name], name: name})
		}
	}
	if uint64(len(entries)) > 1<<32-1 {
		return 0, fmt.Errorf("rootfs: too many entries (%d)", len(entries))
	}

	// 2. String table: names and symlink targets.
	var strs []byte
	for i := range entries {
		e := &entries[i]
		e.nameOff = uint64(len(strs))
		strs = append(strs, e.name...)
		if e.node.mode&sIFMT == sIFLNK {
			e.a, e.b = uint64(len(strs)), uint64(len(e.node.target))
			strs = append(strs, e.node.target...)
		}
	}
	indexOff := uint64(headerSize)
	strOff := indexOff + uint64(len(entries))*entrySize
	dataOff := alignPage(strOff + uint64(len(strs)))

	// 3. Data placement: every non-empty file starts on a page boundary.
	// Hard links on the host and identical in-memory contents share one
	// copy; the index simply points both entries at it.
	type blob struct {
		node *bnode
		off  uint64
	}
	var blobs []blob
	byHost := map[[2]uint64]uint64{}
	// In-memory contents are deduplicated by their bytes (the map key is
	// the content itself: exact, and no hash package to link into images).
	byData := map[string]uint64{}
	end := dataOff
	for i := range entries {
		n := entries[i].node
		if n.mode&sIFMT != sIFREG || n.size == 0 {
			continue
		}
		off, dup := uint64(0), false
		if n.hostPath != "" && n.hostID != [2]uint64{} {
			off, dup = byHost[n.hostID]
		} else if n.hostPath == "" {
			off, dup = byData[string(n.data)]
		}
		if !dup {
			off = end
			end = alignPage(end + uint64(n.size))
			blobs = append(blobs, blob{n, off})
			if n.hostPath != "" {
				byHost[n.hostID] = off
			} else {
				byData[string(n.data)] = off
			}
		}
		entries[i].a, entries[i].b = off, uint64(n.size)
	}
	imageSize := end

	// 4. Write it all out.
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &countWriter{w: bw}
	hdr := make([]byte, headerSize)
	copy(hdr[hMagic:], Magic)
	le.PutUint32(hdr[hVersion:], Version)
	le.PutUint32(hdr[hEntrySize:], entrySize)
	le.PutUint32(hdr[hEntryCount:], uint32(len(entries)))
	le.PutUint64(hdr[hIndexOff:], indexOff)
	le.PutUint64(hdr[hStringsOff:], strOff)
	le.PutUint64(hdr[hStringsLen:], uint64(len(strs)))
	le.PutUint64(hdr[hDataOff:], dataOff)
	le.PutUint64(hdr[hImageSize:], imageSize)
	cw.Write(hdr)
	rec := make([]byte, entrySize)
	for _, e := range entries {
		clear(rec)
		le.PutUint32(rec[eMode:], e.node.mode)
		le.PutUint32(rec[eNameLen:], uint32(len(e.name)))
		le.PutUint64(rec[eNameOff:], e.nameOff)
		le.PutUint64(rec[eA:], e.a)
		le.PutUint64(rec[eB:], e.b)
		if !e.node.mtime.IsZero() {
			le.PutUint64(rec[eMtimeSec:], uint64(e.node.mtime.Unix()))
			le.PutUint32(rec[eMtimeNs:], uint32(e.node.mtime.Nanosecond()))
		}
		cw.Write(rec)
	}
	cw.Write(strs)
	for _, bl := range blobs {
		cw.pad(bl.off)
		if err := writeBlob(cw, bl.node); err != nil {
			return cw.n, err
		}
	}
	cw.pad(imageSize)
	if cw.err == nil {
		cw.err = bw.Flush()
	}
	return cw.n, cw.err
}

func writeBlob(cw *countWriter, n *bnode) error {
	if n.hostPath == "" {
		cw.Write(n.data)
		return cw.err
	}
	f, err := os.Open(n.hostPath)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	defer f.Close()
	copied, err := io.Copy(cw, io.LimitReader(f, n.size+1))
	if err != nil {
		return fmt.Errorf("rootfs: reading %s: %w", n.hostPath, err)
	}
	if copied != n.size {
		return fmt.Errorf("rootfs: %s changed size while the image was being built (%d bytes, expected %d)", n.hostPath, copied, n.size)
	}
	return nil
}

func alignPage(x uint64) uint64 { return (x + PageSize - 1) &^ (PageSize - 1) }

// countWriter counts bytes and remembers the first error, so the layout
// code above can write without checking every call.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

var zeroPage [PageSize]byte

// pad writes zeros up to offset off.
func (c *countWriter) pad(off uint64) {
	for c.err == nil && uint64(c.n) < off {
		k := min(off-uint64(c.n), PageSize)
		c.Write(zeroPage[:k])
	}
}
