package main

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// roundResult is one target's share of one round.
type roundResult struct {
	requests  int
	errors    int
	non200    int
	elapsed   time.Duration
	latencies []time.Duration
}

func (r roundResult) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// warm sends every request once before the rounds, so that they measure
// steady state: in real traffic only a user's first request pays for
// verifying the cookie from scratch, the rest find it in gate's cache.
func warm(addr string, reqs [][]byte, conns int) error {
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns && i < len(reqs); i++ {
		wg.Go(func() {
			c, err := dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := i; j < len(reqs); j += conns {
				if _, err := c.do(reqs[j]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// prime sends each request once on one connection until it is answered
// 200, waiting out 503s: each Basic credential costs one password check
// before the credential cache holds it, and concurrent first checks are
// refused as busy. The rounds then measure the warm cache alone.
func prime(addr string, reqs [][]byte) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for i, req := range reqs {
		for try := 0; ; try++ {
			code, err := c.do(req)
			if err != nil {
				return err
			}
			if code == 200 {
				break
			}
			if code != 503 || try == 50 {
				return fmt.Errorf("request %d: status %d", i, code)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// drive sends requests over conns keep-alive connections for d; connection i
// cycles through the requests i, i+conns, i+2*conns, ...
func drive(addr string, reqs [][]byte, conns int, d time.Duration) roundResult {
	type part struct {
		n, errs, non200 int
		lat             []time.Duration
	}
	parts := make([]part, conns)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := &parts[i]
			p.lat = make([]time.Duration, 0, 1<<14)
			c, err := dial(addr)
			if err != nil {
				p.errs++
				return
			}
			defer c.Close()
			next := i % len(reqs)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				code, err := c.do(reqs[next])
				if err != nil {
					p.errs++
					c.Close()
					if c, err = dial(addr); err != nil {
						return
					}
					continue
				}
				p.lat = append(p.lat, time.Since(t0))
				p.n++
				if code != 200 {
					p.non200++
				}
				if next += conns; next >= len(reqs) {
					next = i % len(reqs)
				}
			}
		}(i)
	}
	wg.Wait()
	res := roundResult{elapsed: time.Since(start)}
	for _, p := range parts {
		res.requests += p.n
		res.errors += p.errs
		res.non200 += p.non200
		res.latencies = append(res.latencies, p.lat...)
	}
	return res
}

// summary is a target's figures over all rounds.
type summary struct {
	name            string
	rps             float64 // median over rounds
	p50, p99, p999  time.Duration
	requests        int
	errors, non200  int
	rssKiB          int
	commandsPerReq  float64
	hasCommandStats bool
	cpu             cpuShare
}

// cpuPerRequest shows the CPU time each process spent per request; the
// client shares the machine, so server and client compete for it.
func (s summary) cpuPerRequest() string {
	if s.requests == 0 {
		return "—"
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(s.requests) }
	if s.cpu.redis == 0 {
		return fmt.Sprintf("%.1f + — + %.1f", per(s.cpu.server), per(s.cpu.client))
	}
	return fmt.Sprintf("%.1f + %.1f + %.1f", per(s.cpu.server), per(s.cpu.redis), per(s.cpu.client))
}

func summarize(name string, rounds []roundResult) summary {
	s := summary{name: name}
	var rps []float64
	var lat []time.Duration
	for _, r := range rounds {
		rps = append(rps, r.rps())
		lat = append(lat, r.latencies...)
		s.requests += r.requests
		s.errors += r.errors
		s.non200 += r.non200
	}
	slices.Sort(rps)
	if len(rps) > 0 {
		s.rps = rps[len(rps)/2]
	}
	slices.Sort(lat)
	s.p50, s.p99, s.p999 = pct(lat, 0.50), pct(lat, 0.99), pct(lat, 0.999)
	return s
}

// roundRatios are a's rates over ref's, round by round, sorted. Targets
// take turns within a round, seconds apart, so each ratio compares two
// targets under nearly the same load from the machine's other tenants; the
// ratio of the two medians would mix rounds of a fast and a slow machine.
// Rounds where ref served nothing are left out.
func roundRatios(a, ref []roundResult) []float64 {
	var rs []float64
	for i := range min(len(a), len(ref)) {
		if r := ref[i].rps(); r > 0 {
			rs = append(rs, a[i].rps()/r)
		}
	}
	slices.Sort(rs)
	return rs
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * q)
	return sorted[i]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d >= 10*time.Microsecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	}
}
