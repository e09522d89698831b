// Many goroutines hammer a mutex, channels, atomic counters and a map
// under a mutex for a few seconds; every final count must be exact.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	secs, _ := strconv.Atoi(os.Args[1])
	const workers = 32
	var (
		mu      sync.Mutex
		locked  int64
		atom    atomic.Int64
		m       = map[int]int{}
		mmu     sync.Mutex
		ch      = make(chan int, 64)
		chanSum atomic.Int64
		ops     [workers]int64
		wg      sync.WaitGroup
		rwg     sync.WaitGroup
	)
	for r := 0; r < 4; r++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for v := range ch {
				chanSum.Add(int64(v))
			}
		}()
	}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				mu.Lock()
				locked++
				mu.Unlock()
				atom.Add(1)
				mmu.Lock()
				m[w]++
				mmu.Unlock()
				ch <- 1
				ops[w]++
			}
		}(w)
	}
	wg.Wait()
	close(ch)
	rwg.Wait()
	var total int64
	mapTotal := 0
	for w := 0; w < workers; w++ {
		total += ops[w]
		mapTotal += m[w]
	}
	ok := locked == total && atom.Load() == total && int64(mapTotal) == total && chanSum.Load() == total
	fmt.Printf("ops=%d mutex=%d atomic=%d map=%d chan=%d exact=%v\n", total, locked, atom.Load(), mapTotal, chanSum.Load(), ok)
	if !ok {
		os.Exit(1)
	}
}
