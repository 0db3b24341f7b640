// fetch: the Go peer of bench/peers for HTTP: N GETs of URL (default
// 2000), INFLIGHT at a time (default 50), with one net/http client whose
// pool keeps INFLIGHT connections alive; prints req_per_s.
//
//	fetch URL [N [INFLIGHT]]
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	url := os.Args[1]
	n, inflight := 2000, 50
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) > 3 {
		inflight, _ = strconv.Atoi(os.Args[3])
	}
	tr := &http.Transport{MaxIdleConnsPerHost: inflight}
	client := &http.Client{Transport: tr}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < inflight; w++ {
		mine := n / inflight
		if w < n%inflight {
			mine++
		}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for i := 0; i < k; i++ {
				r, err := client.Get(url)
				if err != nil || r.StatusCode != 200 {
					panic(err)
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
		}(mine)
	}
	wg.Wait()
	fmt.Printf("req_per_s %.0f\n", float64(n)/time.Since(start).Seconds())
}
