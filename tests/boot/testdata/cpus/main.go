// Busy goroutines, one per P, record which CPU they run on (CPUID reports
// the APIC ID of the CPU that executes it; QEMU numbers them from 0).
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

func apicID() uint32

func main() {
	n := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	seen := map[uint32]bool{}
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				x := 0
				for j := 0; j < 100000; j++ {
					x += j
				}
				_ = x
				c := apicID()
				mu.Lock()
				seen[c] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var cpus []int
	for c := range seen {
		cpus = append(cpus, int(c))
	}
	sort.Ints(cpus)
	fmt.Printf("GOMAXPROCS=%d CPUs used: %v\n", n, cpus)
}
