// Reads a file from the 9P share at /host, writes one back, lists it.
package main

import (
	"fmt"
	"os"
)

func main() {
	b, err := os.ReadFile("/host/from-host.txt")
	fmt.Printf("read: %q %v\n", b, err)
	err = os.WriteFile("/host/from-guest.txt", []byte("written by the guest"), 0o644)
	fmt.Printf("write: %v\n", err)
	ents, err := os.ReadDir("/host")
	fmt.Printf("entries: %d %v\n", len(ents), err)
}
