package main

import (
	"context"

	"github.com/stardust-go/stardust/wasm/browser"
)

// buildBrowser writes a static bundle for o.Pkg into the directory o.Output.
// The program listens on 8080 unless its bundle's stardust.json says
// otherwise (the port can be edited there after the build).
func buildBrowser(ctx context.Context, o buildOptions) error {
	return browser.Build(ctx, browser.Options{Pkg: o.Pkg, Output: o.Output, Files: o.Files})
}
