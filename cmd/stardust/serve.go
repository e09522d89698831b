package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/stardust-go/stardust/wasm/browser"
)

// cmdServe serves a browser bundle (stardust build -target browser) on
// localhost, where Service Workers are allowed without https.
func cmdServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8000", "address to listen on (port 0 picks a free one)")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: stardust serve [-addr HOST:PORT] DIR\n\n"+
			"Serves the browser bundle in DIR and prints its URL. Open it in a browser:\n"+
			"the page boots the program in a Service Worker and shows it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	dir := fs.Arg(0)
	if err := browser.CheckBundle(dir); err != nil {
		return fail("%v", err)
	}
	ln, url, err := browser.Listen(*addr)
	if err != nil {
		return fail("serve: %v", err)
	}
	fmt.Printf("Serving %s at %s\n", dir, url)
	if err := http.Serve(ln, browser.Handler(dir)); err != nil {
		return fail("serve: %v", err)
	}
	return 0
}
