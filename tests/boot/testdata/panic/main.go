// An unrecovered panic prints Go's trace and exits with status 2.
package main

func main() {
	var m map[string]int
	m["boom"] = 1 // panics: assignment to entry in nil map
}
