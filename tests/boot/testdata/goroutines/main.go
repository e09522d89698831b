// 1000 goroutines pass tokens through channels and finish on a WaitGroup.
package main

import (
	"fmt"
	"sync"
)

func main() {
	const n = 1000
	var wg sync.WaitGroup
	results := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := make(chan int)
			go func() { c <- i * 2 }()
			results <- <-c
		}(i)
	}
	wg.Wait()
	close(results)
	sum := 0
	for v := range results {
		sum += v
	}
	fmt.Printf("goroutines done: sum=%d\n", sum)
}
