// Calls a system call Stardust does not implement (io_uring_setup).
package main

import (
	"fmt"
	"syscall"
)

func main() {
	_, _, e := syscall.Syscall(425, 1, 0, 0) // io_uring_setup
	fmt.Printf("errno=%d ENOSYS=%v\n", int(e), e == syscall.ENOSYS)
}
