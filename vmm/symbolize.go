package vmm

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
)

// symbolizer passes the console through unchanged and, after each kernel
// panic line that shows a code address ("pc 0x..." or "rip=0x..."), adds a
// line with the function and source position, read from the image's Go
// symbol table (.gopclntab).
type symbolizer struct {
	mu    sync.Mutex
	out   io.Writer
	line  []byte
	image string
	table *gosym.Table
	tried bool
}

var addrRE = regexp.MustCompile(`\[stardust\] +(?:pc |rip=)(0x[0-9a-f]+)`)

func newSymbolizer(image string, out io.Writer) *symbolizer {
	return &symbolizer{out: out, image: image}
}

func (s *symbolizer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	// Pass bytes through at once (a prompt without a newline must show),
	// but after each complete line, add its annotation if it has one.
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		if _, err := s.out.Write(chunk); err != nil {
			return 0, err
		}
		p = p[len(chunk):]
		if i < 0 {
			if len(s.line) < 4096 {
				s.line = append(s.line, chunk...)
			}
			break
		}
		s.line = append(s.line, chunk[:len(chunk)-1]...)
		s.annotate(s.line)
		s.line = s.line[:0]
	}
	return n, nil
}

// Flush annotates a last line without a newline.
func (s *symbolizer) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.annotate(s.line)
	s.line = nil
}

func (s *symbolizer) annotate(line []byte) {
	m := addrRE.FindSubmatch(line)
	if m == nil {
		return
	}
	pc, err := strconv.ParseUint(string(m[1]), 0, 64)
	if err != nil {
		return
	}
	if where := s.lookup(pc); where != "" {
		fmt.Fprintf(s.out, "[stardust]       %s\n", where)
	}
}

func (s *symbolizer) lookup(pc uint64) string {
	if !s.tried {
		s.tried = true
		s.table, _ = LoadSymbols(s.image)
	}
	if s.table == nil {
		return ""
	}
	file, line, fn := s.table.PCToLine(pc)
	if fn == nil {
		return ""
	}
	return fmt.Sprintf("%s+%#x %s:%d", fn.Name, pc-fn.Entry, file, line)
}

// LoadSymbols reads the Go symbol table of an image.
func LoadSymbols(image string) (*gosym.Table, error) {
	f, err := elf.Open(image)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pcln := f.Section(".gopclntab")
	text := f.Section(".text")
	if pcln == nil || text == nil {
		return nil, fmt.Errorf("%s has no Go symbol table", image)
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, err
	}
	return gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
}
