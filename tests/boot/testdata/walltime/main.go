// Prints the wall clock as Unix seconds.
package main

import (
	"fmt"
	"time"
)

func main() {
	fmt.Printf("unix=%d\n", time.Now().Unix())
}
