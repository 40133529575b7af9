package users

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"time"
)

// ErrBusy is returned by Authenticate when every password-check worker is
// busy and the queue in front of them is full, or the wait in it ran out.
// The caller answers 503 with Retry-After: under a burst of logins that is
// better than holding connections until they time out.
var ErrBusy = errors.New("users: too many password checks at once")

const (
	// queuePerWorker is how many checks may wait per worker: a burst of a
	// few logins each queues briefly rather than being refused.
	queuePerWorker = 4
	// maxQueueWait bounds the wait for a worker. It is well under the
	// default server.write_timeout (10 s), so that a login that waited in
	// vain still has time to answer 503, and a login that got a worker
	// late still has time for its check and its answer; a shorter deadline
	// on the caller's context shortens it (see acquire).
	maxQueueWait = 2 * time.Second
	// timingSamples is how many recent check times are kept per kind of
	// hash.
	timingSamples = 8
	// maxTimedKinds bounds the kinds of hash timed when a file loads; the
	// times of any others are learnt from their first checks.
	maxTimedKinds = 16
	// collectScratch is the memory a hash must need for its check to be
	// followed by a garbage collection (see checker.collect).
	collectScratch = 16 << 20
)

// checker runs password checks on a fixed number of workers behind a
// short queue, and pads every check to the time the slowest kind of hash
// in the file takes. It is safe for concurrent use.
//
// The workers bound memory: an argon2id check with the default parameters
// allocates 64 MiB, so a flood of logins checked all at once would exhaust
// memory (denial of service). The padding stops user enumeration by
// timing: without it an unknown user, an argon2id user and a bcrypt user
// answer after different times.
type checker struct {
	// workers holds one token per running check.
	workers chan struct{}
	// admitted holds one token per check running or queued; when it is
	// full, a check is refused at once.
	admitted chan struct{}
	maxWait  time.Duration

	mu sync.Mutex
	// times are recent check times by kind of hash (verifier.shape).
	times map[string]*kindTimes
}

// kindTimes are the last timingSamples check times of one kind of hash,
// in a ring.
type kindTimes struct {
	recent [timingSamples]time.Duration
	n      int // samples recorded so far; the next goes to recent[n%len]
}

// newChecker returns a checker with workers workers and room for queue
// checks waiting, each for at most maxWait.
func newChecker(workers, queue int, maxWait time.Duration) *checker {
	workers = max(1, workers)
	return &checker{
		workers:  make(chan struct{}, workers),
		admitted: make(chan struct{}, workers+max(0, queue)),
		maxWait:  maxWait,
		times:    make(map[string]*kindTimes),
	}
}

// defaultChecker has one worker per CPU Go schedules on and a queue of
// queuePerWorker per worker.
func defaultChecker() *checker {
	n := runtime.GOMAXPROCS(0)
	return newChecker(n, queuePerWorker*n, maxQueueWait)
}

// check verifies password against h on a worker, then pads the answer to
// the time of the slowest of kinds, counted from the moment the worker
// started: the wait in the queue depends on the load, not on the user,
// and the padding sleeps after the worker is free, so it holds none. Right
// and wrong passwords are padded alike, so neither answers sooner.
func (c *checker) check(ctx context.Context, h verifier, password string, kinds map[string]verifier) (bool, error) {
	if err := c.acquire(ctx); err != nil {
		return false, err
	}
	start := time.Now()
	ok, err := h.verify(password)
	c.collect(h.scratch())
	took := time.Since(start)
	c.release()
	c.record(h.shape(), took)
	pad(ctx, start.Add(c.floor(kinds)))
	if err != nil {
		return false, fmt.Errorf("verify: %w", err)
	}
	return ok, nil
}

// acquire takes a place in the queue, or fails at once with ErrBusy when
// it is full, and then waits for a worker for at most maxWait, and at most
// half the time ctx has left, so that a caller whose context ends with its
// connection's write deadline still has time to answer.
func (c *checker) acquire(ctx context.Context) error {
	select {
	case c.admitted <- struct{}{}:
	default:
		return ErrBusy
	}
	// The fast path takes a free worker without a timer.
	select {
	case c.workers <- struct{}{}:
		return nil
	default:
	}
	wait := c.maxWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case c.workers <- struct{}{}:
		return nil
	case <-timer.C:
		<-c.admitted
		return ErrBusy
	case <-ctx.Done():
		<-c.admitted
		return context.Cause(ctx)
	}
}

func (c *checker) release() {
	<-c.workers
	<-c.admitted
}

// collect runs a garbage collection after a check whose hash needs
// collectScratch or more, while the worker is still held, when other
// checks are running or waiting. argon2id allocates its memory afresh on
// every check and drops it after; left to the pacer, the heap grows to
// about twice the live heap, the workers' scratch included, before that
// memory is freed: under a burst of logins, peak RSS rose past twice the
// workers' scratch. Collected here, the next check reuses the memory this
// one freed, and the process stays near one scratch per worker.
//
// It is skipped when this was the only check: a lone scratch and its
// garbage stay within the same bound, and a forced collection with no
// check waiting would let the scavenger hand the freed memory back to the
// system, so that the next login pays to fault it in again (a lone login
// took about a third longer). It is skipped on a large heap too (a memory
// store of many sessions), where the pacer's headroom dwarfs the scratch
// and a collection per check would cost more than it saves: when the
// scratch of all workers is under half the live heap.
func (c *checker) collect(scratch uint64) {
	if scratch < collectScratch || len(c.admitted) < 2 {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 && scratch*uint64(cap(c.workers)) < s[0].Value.Uint64()/2 {
		return
	}
	runtime.GC()
}

// record adds the time one check of kind took.
func (c *checker) record(kind string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kt := c.times[kind]
	if kt == nil {
		kt = &kindTimes{}
		c.times[kind] = kt
	}
	kt.recent[kt.n%len(kt.recent)] = d
	kt.n++
}

// floor is the time every check is padded to: the estimate of the slowest
// of kinds.
func (c *checker) floor(kinds map[string]verifier) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var f time.Duration
	for k := range kinds {
		f = max(f, c.estimateLocked(k))
	}
	return f
}

// estimateLocked is how long a check of kind takes: the second longest of
// its recent times, 0 when it has none. That is above most checks of the
// kind, so that the faster kinds, padded to it, sit where the slowest
// answers too; and one stalled check (a pause of the machine) does not
// lift every login's time. c.mu is held.
func (c *checker) estimateLocked(kind string) time.Duration {
	kt := c.times[kind]
	if kt == nil || kt.n == 0 {
		return 0
	}
	s := slices.Clone(kt.recent[:min(kt.n, len(kt.recent))])
	slices.Sort(s)
	if len(s) == 1 {
		return s[0]
	}
	return s[len(s)-2]
}

// prepare readies a freshly parsed snapshot: it times each kind of hash in
// it that has no times yet, and gives it a dummy of the slowest kind, for
// unknown users. A file with a single kind needs no timing: every check,
// the dummy's included, is of that kind. The timings run on the workers,
// so that a reload under load stays within their memory.
func (c *checker) prepare(s *snapshot) error {
	if len(s.kinds) > 1 {
		c.timeKinds(s.kinds)
	}
	slowest, err := c.slowest(s.kinds)
	if err != nil {
		return err
	}
	if s.dummy, err = slowest.dummy(); err != nil {
		return fmt.Errorf("dummy hash: %w", err)
	}
	return nil
}

// timeKinds checks a dummy of each kind that has no times yet, once.
func (c *checker) timeKinds(kinds map[string]verifier) {
	names := make([]string, 0, len(kinds))
	c.mu.Lock()
	for k := range kinds {
		if kt := c.times[k]; kt == nil || kt.n == 0 {
			names = append(names, k)
		}
	}
	c.mu.Unlock()
	slices.Sort(names)
	var big bool
	for _, k := range names[:min(len(names), maxTimedKinds)] {
		d, err := kinds[k].dummy()
		if err != nil {
			continue // untimed kinds are learnt from their first checks
		}
		c.workers <- struct{}{}
		start := time.Now()
		_, _ = d.verify("")
		c.collect(d.scratch())
		took := time.Since(start)
		<-c.workers
		c.record(k, took)
		big = big || d.scratch() >= collectScratch
	}
	if big {
		// Hand the timings' scratch back to the system: an idle gate
		// should not hold 64 MiB it used once at start.
		debug.FreeOSMemory()
	}
}

// slowest returns the hash of kinds with the longest estimate; among
// equals (untimed kinds) the one whose kind sorts first, so that the
// choice is stable.
func (c *checker) slowest(kinds map[string]verifier) (verifier, error) {
	if len(kinds) == 0 {
		return nil, errors.New("no kind of hash")
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	c.mu.Lock()
	defer c.mu.Unlock()
	best := names[0]
	for _, k := range names[1:] {
		if c.estimateLocked(k) > c.estimateLocked(best) {
			best = k
		}
	}
	return kinds[best], nil
}

// pad sleeps until deadline, or until ctx ends: a client that went away
// learns nothing from the timing.
func pad(ctx context.Context, deadline time.Time) {
	d := time.Until(deadline)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
