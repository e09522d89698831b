// Prints 16 bytes from crypto/rand.
package main

import (
	"crypto/rand"
	"fmt"
)

func main() {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	fmt.Printf("random=%x\n", b)
}
