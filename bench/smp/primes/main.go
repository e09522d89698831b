// Command primes counts primes below a bound with one goroutine per P and
// prints how long it took: the CPU-bound workload of bench/smp.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
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
	counts := make([]int, procs)
	for w := 0; w < procs; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := w; n < limit; n += procs {
				if isPrime(n) {
					counts[w]++
				}
			}
		}(w)
	}
	wg.Wait()
	total := 0
	for _, c := range counts {
		total += c
	}
	fmt.Printf("procs=%d primes=%d ms=%d\n", procs, total, time.Since(t0).Milliseconds())
}
