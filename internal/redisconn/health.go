package redisconn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Health tells whether Redis serves gate, and reports each outage once
// when it starts, every SummaryEvery while it lasts, and once when it ends.
//
// It learns from the outcome of every command gate sends (it is a go-redis
// hook on the client, see Observe), so an outage starts with the first
// failed request, not with the next background ping, and its start and end
// are the times Redis stopped and started answering. Watch pings only so
// that an outage is seen and timed while no requests come.
//
// An outage ends once Redis has answered a command begun after the outage
// started, and no command begun after that answer has failed for Quiet. A
// Redis that answers some commands and fails others (a Cluster with one
// master down, a master being demoted) is one outage, not one per command.
// The end is reported Quiet after that first answer, with the outage's
// true duration: from the start of the first failed command to that first
// answer.
//
// Health only reports; it never holds a request back. Requests go to Redis
// all along and fail closed on their own errors.
type Health struct {
	report func(Event)
	// quiet and summaryEvery are Quiet and SummaryEvery.
	quiet, summaryEvery time.Duration

	// watching is true from the start until Redis is known up, and
	// during an outage: the hot path of a successful command reads only
	// this.
	watching atomic.Bool
	outages  atomic.Uint64

	mu    sync.Mutex
	state healthState
	// since is when the outage started: the start of its first failed
	// command.
	since time.Time
	// lastErr is the latest failure; failed counts failed requests in
	// the outage, unreported those not yet in a summary.
	lastErr            error
	failed, unreported int64
	// answered is the end of the first answered command begun after
	// since: zero until there is one, and again after a failure of a
	// command begun after it.
	answered    time.Time
	lastSummary time.Time
}

type healthState int

const (
	unknown healthState = iota
	up
	down
)

// Defaults of NewHealth.
const (
	// Quiet is how long no command may fail after Redis answered again
	// before the outage counts as over.
	Quiet = time.Second
	// SummaryEvery is the interval of the summaries while an outage lasts:
	// failed requests are counted, not logged one by one.
	SummaryEvery = 10 * time.Second
)

// EventKind is what an Event reports.
type EventKind int

const (
	// Reachable is the first answer from Redis after gate started.
	Reachable EventKind = iota
	// Unreachable is the start of an outage.
	Unreachable
	// StillUnreachable summarises an outage that goes on.
	StillUnreachable
	// ReachableAgain is the end of an outage.
	ReachableAgain
)

// Event is one report of a Health.
type Event struct {
	Kind EventKind
	// Err is the failure that started the outage (Unreachable), or the
	// latest one (StillUnreachable).
	Err error
	// Duration is how long the outage has lasted so far
	// (StillUnreachable), or lasted in all (ReachableAgain).
	Duration time.Duration
	// Failed counts the requests that failed since the last report
	// (StillUnreachable) or during the whole outage (ReachableAgain).
	// Neither gate's own background pings nor the commands go-redis sends
	// to set up a connection are counted.
	Failed int64
}

// NewHealth returns a Health that calls report with each Event. report runs
// on the goroutine that saw the change (a request's, or Watch's) under the
// Health's lock: it must be quick and must not call back into the Health.
func NewHealth(report func(Event)) *Health {
	h := &Health{report: report, quiet: Quiet, summaryEvery: SummaryEvery}
	h.watching.Store(true)
	return h
}

// Up reports whether Redis serves: false before its first answer and
// during an outage.
func (h *Health) Up() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state == up
}

// Outages counts the outages that have started, the one at start-up
// included.
func (h *Health) Outages() uint64 { return h.outages.Load() }

// Observe makes h learn from every command client sends. Call it before
// the client's first command.
func (h *Health) Observe(client redis.UniversalClient) {
	client.AddHook(healthHook{h})
}

// probeKey marks the context of Watch's pings, which are not requests.
var probeKey = &struct{ name string }{"redisconn-probe"}

// Watch pings Redis with ping (through the observed client) every
// Every while it serves and every Retry while it does not, until ctx ends:
// an outage is then seen, and its end timed to within Retry, when no
// requests come. It also writes the summaries and the end of an outage.
func (h *Health) Watch(ctx context.Context, ping func(context.Context) error, o WatchOptions) {
	every := orDefault(o.Every, time.Second)
	retry := orDefault(o.Retry, 100*time.Millisecond)
	timeout := orDefault(o.Timeout, 5*time.Second)
	pctx := context.WithValue(ctx, probeKey, true)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		c, cancel := context.WithTimeout(pctx, timeout)
		_ = ping(c) // the hook has seen how it went
		cancel()
		h.tick(time.Now())
		wait := retry
		if h.Up() {
			wait = every
		}
		timer.Reset(wait)
	}
}

// WatchOptions tunes Watch; zero values take the defaults.
type WatchOptions struct {
	// Every is the interval between pings while Redis serves; default 1s.
	Every time.Duration
	// Retry is the interval between pings and checks during an outage;
	// default 100ms.
	Retry time.Duration
	// Timeout bounds one ping; default 5s.
	Timeout time.Duration
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// served records a command begun at start and answered at end.
func (h *Health) served(start, end time.Time) {
	if !h.watching.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case unknown:
		h.state = up
		h.watching.Store(false)
		h.report(Event{Kind: Reachable})
	case down:
		if h.answered.IsZero() && !start.Before(h.since) {
			h.answered = end
		}
	}
}

// failedAt records failed commands begun at start that stand for n
// requests.
func (h *Health) failedAt(start time.Time, err error, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != down {
		h.state = down
		h.watching.Store(true)
		h.outages.Add(1)
		h.since, h.lastSummary = start, start
		h.failed, h.unreported = 0, 0
		h.answered = time.Time{}
		h.report(Event{Kind: Unreachable, Err: err})
	}
	h.lastErr = err
	h.failed += n
	h.unreported += n
	// A failure of a command sent after Redis answered means it is not
	// back yet; one sent before says nothing new.
	if !h.answered.IsZero() && !start.Before(h.answered) {
		h.answered = time.Time{}
	}
}

// tick ends an outage whose quiet period has passed, and writes a summary
// when one is due.
func (h *Health) tick(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != down {
		return
	}
	if !h.answered.IsZero() && now.Sub(h.answered) >= h.quiet {
		h.state = up
		h.watching.Store(false)
		h.report(Event{Kind: ReachableAgain, Duration: h.answered.Sub(h.since), Failed: h.failed})
		return
	}
	if now.Sub(h.lastSummary) >= h.summaryEvery {
		h.lastSummary = now
		h.report(Event{Kind: StillUnreachable, Err: h.lastErr, Duration: now.Sub(h.since), Failed: h.unreported})
		h.unreported = 0
	}
}

// outcome is what a command's result says about Redis.
type outcome int

const (
	// answered: Redis served the command (a miss is an answer).
	answered outcome = iota
	// failed: Redis did not answer, or answered that it cannot serve.
	failed
	// moot: the result says nothing about Redis (the caller gave up,
	// the client is closing).
	moot
)

// notServing are the error replies of a Redis that cannot serve gate now:
// loading its data, busy with a script, a replica or a master without its
// replicas, a Cluster without the slot, refusing gate's credentials or
// out of memory. They count as failures, as a refused connection or a
// timeout does.
var notServing = []string{
	"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS",
	"NOAUTH", "WRONGPASS", "NOPERM", "MISCONF", "OOM", "max number of clients",
}

// classify sorts a command's error. A miss is an answer, and so is any
// other error reply but those of notServing: go-redis sends commands of its
// own when it connects (CLIENT SETINFO) and ignores their refusal by an
// older Redis, and those replies pass through the hook too. Every error
// that is no reply (a refused or dropped connection, a timeout) is a
// failure, but the caller's own cancellation and a closing client, which
// say nothing about Redis.
func classify(err error) outcome {
	var reply redis.Error
	switch {
	case err == nil, err == redis.Nil: // the hot path: hits and misses
		return answered
	case errors.Is(err, context.Canceled), errors.Is(err, redis.ErrClosed):
		return moot
	case errors.As(err, &reply):
		for _, p := range notServing {
			if redis.HasErrorPrefix(err, p) {
				return failed
			}
		}
		return answered
	}
	return failed
}

// healthHook feeds a Health from a client's commands.
type healthHook struct{ h *Health }

func (k healthHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (k healthHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		k.h.observe(ctx, start, err, requests(cmd))
		return err
	}
}

// observe records one command, begun at start, that ended now with err;
// n is the requests it stands for (0 or 1).
func (h *Health) observe(ctx context.Context, start time.Time, err error, n int64) {
	switch classify(err) {
	case answered:
		h.served(start, time.Now())
	case failed:
		if ctx.Value(probeKey) != nil {
			n = 0
		}
		h.failedAt(start, err, n)
	}
}

// requests is 1 for a command gate sent and 0 for one go-redis sends
// itself to set up a connection: gate sends no HELLO, AUTH, CLIENT or
// SELECT, and a failed dial fails those too, which are no requests.
func requests(cmd redis.Cmder) int64 {
	switch cmd.Name() {
	case "hello", "auth", "client", "select":
		return 0
	}
	return 1
}

func (k healthHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		var failedReqs int64
		var firstErr error
		served := false
		for _, c := range cmds {
			switch classify(c.Err()) {
			case answered:
				served = true
			case failed:
				if firstErr == nil {
					firstErr = c.Err()
				}
				failedReqs += requests(c)
			}
		}
		if firstErr != nil {
			if ctx.Value(probeKey) != nil {
				failedReqs = 0
			}
			k.h.failedAt(start, firstErr, failedReqs)
		}
		if served {
			k.h.served(start, time.Now())
		}
		return err
	}
}
