// Package cdp is a minimal Chrome DevTools Protocol client that drives a
// headless Chromium over --remote-debugging-pipe (no WebSocket library, no
// downloaded browser: it uses the system's chromium). Stardust's browser
// tests and benchmarks use it to load a bundle, evaluate JavaScript in the
// page and take screenshots.
package cdp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// Find returns the path of a Chromium-family browser: $CHROME if set, else
// the first of chromium, chromium-browser, google-chrome on $PATH.
func Find() (string, error) {
	if p := os.Getenv("CHROME"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium found (install Debian's chromium package or set $CHROME)")
}

// Browser is a running headless browser.
type Browser struct {
	cmd      *exec.Cmd
	toChrome io.WriteCloser
	stderr   bytes.Buffer
	mu       sync.Mutex
	nextID   int
	pending  map[int]chan message
	done     chan struct{}
	readErr  error
}

type message struct {
	ID        int             `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    any             `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Launch starts the browser at execPath with a fresh profile in
// profileDir (which the caller removes).
func Launch(execPath, profileDir string) (*Browser, error) {
	// fd 3 carries commands to the browser, fd 4 its replies; messages
	// are JSON terminated by a NUL byte.
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	b := &Browser{toChrome: cmdW, pending: map[int]chan message{}, done: make(chan struct{})}
	b.cmd = exec.Command(execPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--remote-debugging-pipe", "--user-data-dir="+profileDir, "about:blank")
	b.cmd.ExtraFiles = []*os.File{cmdR, resW}
	b.cmd.Stderr = lockedWriter{b}
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	cmdR.Close()
	resW.Close()
	go b.read(resR)
	return b, nil
}

func (b *Browser) read(r io.ReadCloser) {
	defer close(b.done)
	defer r.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			b.readErr = err
			return
		}
		var m message
		if err := json.Unmarshal(raw[:len(raw)-1], &m); err != nil || m.ID == 0 {
			continue // events are not used
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// Call sends one command (to a page when session is set) and decodes its
// result into out (which may be nil).
func (b *Browser) Call(ctx context.Context, session, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	ch := make(chan message, 1)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	data, err := json.Marshal(message{ID: id, SessionID: session, Method: method, Params: params})
	if err == nil {
		_, err = b.toChrome.Write(append(data, 0))
	}
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("%s: browser exited (%v): %s", method, b.readErr, b.Stderr())
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Stderr returns what the browser printed, for error messages.
func (b *Browser) Stderr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stderr.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// Close stops the browser.
func (b *Browser) Close() {
	b.toChrome.Close()
	b.cmd.Process.Kill()
	b.cmd.Wait()
}

// lockedWriter collects the browser's stderr under b.mu.
type lockedWriter struct{ b *Browser }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.stderr.Write(p)
}

// Page is one tab.
type Page struct {
	b       *Browser
	session string
}

// NewPage opens a tab at url.
func (b *Browser) NewPage(ctx context.Context, url string) (*Page, error) {
	var created struct{ TargetID string }
	if err := b.Call(ctx, "", "Target.createTarget", map[string]any{"url": url}, &created); err != nil {
		return nil, err
	}
	var attached struct{ SessionID string }
	if err := b.Call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": created.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	return &Page{b: b, session: attached.SessionID}, nil
}

// Eval evaluates a JavaScript expression in the page, awaiting it if it is
// a Promise, and decodes its JSON value into out (which may be nil).
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.b.Call(ctx, p.session, "Runtime.evaluate",
		map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res)
	if err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("javascript: %s %s", e.Text, e.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		return json.Unmarshal(res.Result.Value, out)
	}
	return nil
}

// Screenshot returns a PNG of the page's viewport.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var res struct{ Data string }
	if err := p.b.Call(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(res.Data)
}
