// Command primes counts primes below a bound with one goroutine per P and
// prints how long it took: the CPU-bound workload of bench/smp. Workers
// take blocks of numbers from a shared counter, so the load stays even
// (a fixed stride would hand all the odd numbers to some workers).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func main() {
	limit, _ := strconv.Atoi(os.Args[1])
	procs := runtime.GOMAXPROCS(0)
	t0 := time.Now()
	var wg sync.WaitGroup
	const block = 10000
	var next, total atomic.Int64
	for w := 0; w < procs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			count := 0
			for {
				lo := int(next.Add(block)) - block
				if lo >= limit {
					break
				}
				for n := lo; n < min(lo+block, limit); n++ {
					if isPrime(n) {
						count++
					}
				}
			}
			total.Add(int64(count))
		}()
	}
	wg.Wait()
	fmt.Printf("procs=%d primes=%d ms=%d\n", procs, total.Load(), time.Since(t0).Milliseconds())
}
