// Allocates 2 GiB in total, keeping a small live set, so the GC must run
// many cycles and return memory to the kernel.
package main

import (
	"fmt"
	"runtime"
)

var keep [8][]byte

func main() {
	total := 0
	for i := 0; total < 2<<30; i++ {
		b := make([]byte, 1<<20)
		b[0], b[len(b)-1] = byte(i), byte(i)
		keep[i%len(keep)] = b
		total += len(b)
	}
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	fmt.Printf("allocated %d MiB in total, %d GC cycles\n", total>>20, st.NumGC)
}
