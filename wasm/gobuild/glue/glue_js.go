//go:build js

// This file is added to the user's main package when it is built for the
// browser target (it is not compiled as part of Stardust itself). In the
// browser, net.Listen binds an in-process network; this glue gives the
// Service Worker a function that replays a page's request to the port the
// program listens on and returns the response, so the program's net/http
// server answers the page without any change to its code.
//
// Identifiers are prefixed with stardustGlue so they cannot collide with the
// program's own.

package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"syscall/js"
	"time"
)

func init() {
	// The worker sets globalThis.__stardust = {port, ready(handler), failed(msg)}
	// before starting the program; without it (plain wasm_exec.js) the
	// program runs as it would anyway.
	boot := js.Global().Get("__stardust")
	if boot.Type() != js.TypeObject {
		return
	}
	addr := "127.0.0.1:" + boot.Get("port").String()
	// Cookies cannot reach the browser's jar from a worker-made response
	// (Set-Cookie is a forbidden response header), so the worker keeps them.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{
		// A Transport with DialContext uses the in-process network instead
		// of the browser's fetch().
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			},
			MaxIdleConnsPerHost: 16,
		},
		// The browser follows redirects itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Jar:           jar,
	}
	handler := js.FuncOf(func(_ js.Value, args []js.Value) any {
		return stardustGlueServe(client, args[0])
	})
	go func() {
		// Report readiness once the program accepts connections.
		for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				boot.Call("ready", handler)
				return
			}
			time.Sleep(delay)
		}
	}()
}

// stardustGlueServe takes {method, path, host, headers: [[k, v]...], body}
// and returns a Promise of {status, statusText, headers, body} (or {error}).
func stardustGlueServe(client *http.Client, r js.Value) js.Value {
	method := r.Get("method").String()
	path := r.Get("path").String()
	host := r.Get("host").String()
	var body []byte
	if b := r.Get("body"); b.Truthy() {
		body = make([]byte, b.Get("length").Int())
		js.CopyBytesToGo(body, b)
	}
	hdrs := r.Get("headers")
	header := http.Header{}
	for i := 0; i < hdrs.Length(); i++ {
		kv := hdrs.Index(i)
		header.Add(kv.Index(0).String(), kv.Index(1).String())
	}

	var executor js.Func
	executor = js.FuncOf(func(_ js.Value, pa []js.Value) any {
		resolve := pa[0]
		go func() {
			resolve.Invoke(stardustGlueRoundTrip(client, method, path, host, header, body))
		}()
		return nil
	})
	defer executor.Release() // the Promise constructor runs it at once
	return js.Global().Get("Promise").New(executor)
}

func stardustGlueRoundTrip(client *http.Client, method, path, host string, header http.Header, body []byte) js.Value {
	out := js.Global().Get("Object").New()
	req, err := http.NewRequest(method, "http://stardust.invalid"+path, bytes.NewReader(body))
	if err != nil {
		out.Set("error", err.Error())
		return out
	}
	req.Header = header
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		out.Set("error", err.Error())
		return out
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body) // no streaming: a Response needs the whole body
	if err != nil {
		out.Set("error", err.Error())
		return out
	}
	out.Set("status", resp.StatusCode)
	out.Set("statusText", http.StatusText(resp.StatusCode))
	pairs := js.Global().Get("Array").New()
	for k, vs := range resp.Header {
		for _, v := range vs {
			pairs.Call("push", js.ValueOf([]any{k, v}))
		}
	}
	out.Set("headers", pairs)
	buf := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(buf, data)
	out.Set("body", buf)
	return out
}
