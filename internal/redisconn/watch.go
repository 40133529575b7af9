package redisconn

import (
	"context"
	"time"
)

// Watcher pings a store in the background so that an outage is reported
// when it starts, once per back-off step while it lasts, and when it ends;
// requests failing meanwhile need not log it each time. It reports, it
// does not gate: readiness and authz ask the store themselves and fail
// closed.
type Watcher struct {
	// Ping asks the store whether it can serve.
	Ping func(context.Context) error
	// Report is called with the first outcome, on every failed attempt
	// while the store is unreachable, and when it is back. It runs on the
	// watcher's goroutine.
	Report func(Status)
	// Every is the interval between pings while the store answers;
	// default 15s.
	Every time.Duration
	// MinBackoff and MaxBackoff bound the exponential back-off between
	// pings while it does not; default 1s and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one ping; default 5s.
	Timeout time.Duration
}

// Status is one report of a Watcher.
type Status struct {
	// Up is whether the store answered.
	Up bool
	// Err is the failure, when not Up.
	Err error
	// Failures counts consecutive failed pings, when not Up.
	Failures int
	// Retry is the wait before the next attempt, when not Up.
	Retry time.Duration
	// Outage is how long the store was unreachable, when Up after an
	// outage; 0 on the first report.
	Outage time.Duration
}

// Run pings until ctx ends.
func (w Watcher) Run(ctx context.Context) {
	every := orDefault(w.Every, 15*time.Second)
	minB := orDefault(w.MinBackoff, time.Second)
	maxB := max(orDefault(w.MaxBackoff, 30*time.Second), minB)
	timeout := orDefault(w.Timeout, 5*time.Second)

	first := true
	failures := 0
	var downSince time.Time
	backoff := minB
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := w.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		if err == nil {
			if first || failures > 0 {
				var outage time.Duration
				if failures > 0 {
					outage = time.Since(downSince)
				}
				w.Report(Status{Up: true, Outage: outage})
			}
			failures, backoff, wait = 0, minB, every
		} else {
			if failures == 0 {
				downSince = time.Now()
			}
			failures++
			wait = backoff
			backoff = min(backoff*2, maxB)
			w.Report(Status{Err: err, Failures: failures, Retry: wait})
		}
		first = false
		timer.Reset(wait)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
