package main

import (
	"sync"
	"time"
)

type burstResult struct {
	ok, errors, loggedOut, other int
	slowest                      time.Duration
}

// burst opens n connections at once, each asking one decision with a valid
// session: a store pool far smaller than the burst must queue, not fail, and
// never turn a valid session into a "go log in".
func burst(t *target, n int) burstResult {
	var (
		mu  sync.Mutex
		res burstResult
		wg  sync.WaitGroup
	)
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := dial(t.p.addr)
			<-gate
			if err != nil {
				mu.Lock()
				res.errors++
				mu.Unlock()
				return
			}
			defer c.Close()
			t0 := time.Now()
			code, err := c.do(t.reqs[i%len(t.reqs)])
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			res.slowest = max(res.slowest, d)
			switch {
			case err != nil:
				res.errors++
			case code == 200:
				res.ok++
			case code == 401 || code == 302:
				res.loggedOut++
			default:
				res.other++
			}
		}(i)
	}
	close(gate)
	wg.Wait()
	return res
}
