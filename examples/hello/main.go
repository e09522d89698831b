// Command hello is the smallest Stardust example: it prints a greeting and
// its arguments, then exits. It is an ordinary Go program with no Stardust imports.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("Hello from Stardust!")
	for i, a := range os.Args[1:] {
		fmt.Printf("arg[%d] = %s\n", i+1, a)
	}
}
