//go:build !linux

package wasihost

import (
	"context"
	"errors"
	"net"
)

// Host is unavailable off Linux: the socket layer waits with ppoll(2).
type Host struct{}

// New reports that the WASI host needs Linux.
func New(ctx context.Context, wasm []byte, cfg Config) (*Host, error) {
	return nil, errors.New("running wasi modules needs a Linux host")
}

func (h *Host) Addrs() []net.Addr                    { return nil }
func (h *Host) Run(ctx context.Context) (int, error) { return -1, errors.New("unsupported") }
func (h *Host) Close() error                         { return nil }
