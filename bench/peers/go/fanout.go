// fanout: the Go side of the fanout workload of bench/peers: TASKS
// goroutines (default 1000) each running ITERS iterations (default 590000)
// of the integer loop of weft_fanout.c, started then waited for; prints
// wall_ms and the checksum (the sum of the results, as weft_fanout does).
//
//	fanout [ITERS [TASKS]]     (GOMAXPROCS decides how many cores)
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// crunch: a multiply-add and a shift-xor, each step using the last.
func crunch(x uint64, iters int) uint64 {
	for i := 0; i < iters; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 29
	}
	return x
}

func main() {
	iters, n := 590000, 1000
	if len(os.Args) > 1 {
		iters, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	out := make([]uint64, n)
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			out[i] = crunch(uint64(i)+1, iters)
			wg.Done()
		}(i)
	}
	wg.Wait()
	fmt.Printf("wall_ms %.1f\n", float64(time.Since(start).Microseconds())/1000)
	var sum uint64
	for _, v := range out {
		sum += v
	}
	fmt.Printf("checksum %d\n", sum)
}
