// sleepers: N goroutines (default 100000) each sleeping 100 ms, started
// then waited for; prints wall_ms as weft_sleepers does.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			time.Sleep(100 * time.Millisecond)
			wg.Done()
		}()
	}
	wg.Wait()
	fmt.Printf("wall_ms %.1f\n", float64(time.Since(start).Microseconds())/1000)
}
