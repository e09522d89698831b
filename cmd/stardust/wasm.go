package main

import "errors"

// Placeholder until the wasm targets land (the helper owning wasm/ replaces this file).
func buildWASM(o buildOptions) error { return errors.New("wasm targets: not implemented yet") }

func runWASI(wasmFile string, o runOptions) (int, error) {
	return 0, errors.New("wasm targets: not implemented yet")
}
