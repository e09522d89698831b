// A nil-pointer dereference is a recoverable panic.
package main

import "fmt"

type T struct{ x int }

//go:noinline
func deref(p *T) int { return p.x }

func main() {
	for i := 0; i < 3; i++ {
		func() {
			defer func() {
				r := recover()
				fmt.Printf("recovered: %v\n", r)
			}()
			deref(nil)
		}()
	}
	fmt.Println("still running")
}
