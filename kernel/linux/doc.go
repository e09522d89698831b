// Package linux gives the program the Linux it expects: the x86-64 system
// call table (table.go, one file per family of calls: sys_*.go), signal
// delivery with real rt_sigframes (signal.go), the process-start stack
// (stack.go) and the file-descriptor table (fd.go).
//
// Execution context: trap context. Handlers run on the calling thread's
// kernel stack with interrupts off, are //go:nosplit, allocate nothing and
// reach the program's memory only after checking it (user.go). Calls that
// need service-context code (files, sockets) are forwarded to it; see
// docs/architecture.md.
package linux
