// A goroutine spinning in a loop without function calls must not stop a
// timer from firing or a forced GC from completing: Go preempts it with a
// signal (tgkill SIGURG), which the kernel must deliver.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

var stop atomic.Bool
var sink uint64

func spin() {
	x := uint64(1)
	for !stop.Load() {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink = x
}

func main() {
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go spin()
	}
	time.Sleep(10 * time.Millisecond) // let the spinners start
	t0 := time.Now()
	<-time.After(50 * time.Millisecond)
	fmt.Printf("timer fired after %d ms\n", time.Since(t0).Milliseconds())
	t1 := time.Now()
	runtime.GC()
	fmt.Printf("GC completed in %d ms\n", time.Since(t1).Milliseconds())
	stop.Store(true)
}
