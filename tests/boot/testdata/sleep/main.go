// Measures time.Sleep and a timer.
package main

import (
	"fmt"
	"time"
)

func main() {
	t0 := time.Now()
	time.Sleep(100 * time.Millisecond)
	d := time.Since(t0)
	fmt.Printf("slept %d ms\n", d.Milliseconds())
	t1 := time.Now()
	timer := time.NewTimer(50 * time.Millisecond)
	<-timer.C
	fmt.Printf("timer fired after %d ms\n", time.Since(t1).Milliseconds())
	tick := time.NewTicker(10 * time.Millisecond)
	for i := 0; i < 5; i++ {
		<-tick.C
	}
	tick.Stop()
	fmt.Println("ticker ok")
}
