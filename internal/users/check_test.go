package users

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeVerifier is a hash of kind whose check runs fn.
type fakeVerifier struct {
	kind string
	fn   func() bool
}

func (f fakeVerifier) verify(string) (bool, error) { return f.fn(), nil }
func (f fakeVerifier) shape() string               { return f.kind }
func (f fakeVerifier) dummy() (verifier, error)    { return f, nil }
func (f fakeVerifier) scratch() uint64             { return 0 }

// blocking returns a verifier whose checks wait until release is closed,
// and a channel that gets a value as each check starts.
func blocking(kind string) (v verifier, started chan struct{}, release chan struct{}) {
	started, release = make(chan struct{}, 16), make(chan struct{})
	return fakeVerifier{kind, func() bool {
		started <- struct{}{}
		<-release
		return false
	}}, started, release
}

func TestCheckerQueue(t *testing.T) {
	ctx := context.Background()
	c := newChecker(1, 1, 100*time.Millisecond)
	v, started, release := blocking("k")
	kinds := map[string]verifier{"k": v}
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { _, err := c.check(ctx, v, "", kinds); errs <- err })
	<-started // the worker is taken

	// The queue has room for one, which waits in vain for the worker.
	t0 := time.Now()
	if _, err := c.check(ctx, v, "", kinds); !errors.Is(err, ErrBusy) {
		t.Errorf("queued check: err = %v; want ErrBusy", err)
	}
	if waited := time.Since(t0); waited < 100*time.Millisecond || waited > 2*time.Second {
		t.Errorf("queued check gave up after %v; want about the 100ms bound", waited)
	}

	// With the queue full, a third check is refused at once.
	queuedCtx, cancel := context.WithCancel(ctx)
	wg.Go(func() { _, err := c.check(queuedCtx, v, "", kinds); errs <- err })
	waitFor(t, "the second check queued", func() bool { return len(c.admitted) == 2 })
	t0 = time.Now()
	if _, err := c.check(ctx, v, "", kinds); !errors.Is(err, ErrBusy) {
		t.Errorf("check beyond the queue: err = %v; want ErrBusy", err)
	}
	if waited := time.Since(t0); waited > 50*time.Millisecond {
		t.Errorf("check beyond the queue took %v; want an immediate refusal", waited)
	}

	// A queued check whose request ends gives its place back.
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled queued check: err = %v; want context.Canceled", err)
	}
	close(release)
	if err := <-errs; err != nil {
		t.Errorf("running check: err = %v", err)
	}
	wg.Wait()
	if len(c.admitted) != 0 || len(c.workers) != 0 {
		t.Errorf("after every check ended: %d admitted, %d workers busy; want 0", len(c.admitted), len(c.workers))
	}
}

// TestCheckerWaitWithinDeadline: a caller whose context ends soon waits
// for a worker at most half the time left, then hears ErrBusy with time
// to answer.
func TestCheckerWaitWithinDeadline(t *testing.T) {
	c := newChecker(1, 1, time.Minute)
	v, started, release := blocking("k")
	kinds := map[string]verifier{"k": v}
	done := make(chan struct{})
	go func() { _, _ = c.check(context.Background(), v, "", kinds); close(done) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := c.check(ctx, v, "", kinds); !errors.Is(err, ErrBusy) {
		t.Errorf("err = %v; want ErrBusy", err)
	}
	if waited := time.Since(t0); waited >= 400*time.Millisecond {
		t.Errorf("waited %v; want about half the 400ms left", waited)
	}
	close(release)
	<-done
}

// TestCheckerPads: a check of a fast kind lasts as long as the slowest
// kind's estimate, right password or wrong; a slow check is not padded
// further.
func TestCheckerPads(t *testing.T) {
	ctx := context.Background()
	c := newChecker(2, 0, time.Second)
	fast := fakeVerifier{"fast", func() bool { return true }}
	slow := fakeVerifier{"slow", func() bool { time.Sleep(10 * time.Millisecond); return false }}
	kinds := map[string]verifier{"fast": fast, "slow": slow}
	const floor = 60 * time.Millisecond
	for _, d := range []time.Duration{floor, 2 * floor, floor, floor / 2} {
		c.record("slow", d) // the estimate is the second longest: floor
	}
	if got := c.floor(kinds); got != floor {
		t.Fatalf("floor = %v; want %v", got, floor)
	}
	for _, v := range []verifier{fast, slow} {
		t0 := time.Now()
		if _, err := c.check(ctx, v, "", kinds); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(t0); took < floor {
			t.Errorf("%s check took %v; want at least %v", v.shape(), took, floor)
		}
	}
	// Without the slow kind in the file, nothing pads.
	t0 := time.Now()
	if _, err := c.check(ctx, fast, "", map[string]verifier{"fast": fast}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took >= floor {
		t.Errorf("fast check in a fast-only file took %v; want no padding", took)
	}
}

func TestEstimate(t *testing.T) {
	c := newChecker(1, 0, time.Second)
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples []time.Duration
		want    time.Duration
	}{
		{"none", nil, 0},
		{"one", []time.Duration{7 * ms}, 7 * ms},
		{"second_longest", []time.Duration{3 * ms, 9 * ms, 5 * ms}, 5 * ms},
		{"one_stall_ignored", []time.Duration{5 * ms, 5 * ms, 900 * ms, 6 * ms}, 6 * ms},
		// Only the last timingSamples count: the early long ones are gone.
		{"recent_only", []time.Duration{90 * ms, 80 * ms, 1, 1, 1, 1, 2 * ms, 3 * ms, 1, 1}, 2 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, d := range tt.samples {
				c.record(tt.name, d)
			}
			c.mu.Lock()
			got := c.estimateLocked(tt.name)
			c.mu.Unlock()
			if got != tt.want {
				t.Errorf("estimate = %v; want %v", got, tt.want)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
