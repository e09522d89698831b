// Package testboot lets host tests link packages that import the
// architecture layer. kernel/arch/amd64 calls the kernel's entry point,
// kernel.kernelMain and kernel.trap, by linker name (it cannot import package kernel), so a
// test binary without package kernel would not link. Tests import this
// package for its side effect: it defines those symbols. Images never import
// it. Execution context: host tests only.
package testboot

import _ "unsafe" // for go:linkname

//go:linkname kernelMain github.com/stardust-go/stardust/kernel.kernelMain
func kernelMain(uintptr) { panic("kernelMain called in a host test") }

//go:linkname trap github.com/stardust-go/stardust/kernel.trap
func trap(uintptr) { panic("trap called in a host test") }

//go:linkname apMain github.com/stardust-go/stardust/kernel.apMain
func apMain(int) { panic("apMain called in a host test") }
