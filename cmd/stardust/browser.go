package main

import (
	"context"
	"errors"
)

func buildBrowser(ctx context.Context, o buildOptions) error {
	return errors.New("the browser target is not implemented yet")
}
