package main

// Placeholder until the wasm targets land (the helper owning wasm/ replaces this file).
func cmdServe(args []string) int { return fail("serve: not implemented yet") }
