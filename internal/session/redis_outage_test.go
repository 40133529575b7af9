package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gate/internal/config"
	"gate/internal/session"
	"gate/internal/testkit/redistest"
)

// slack is what scheduling on a loaded machine under -race may add to a
// bound the store keeps.
const slack = 200 * time.Millisecond

// call is one store call as a client saw it.
type call struct {
	start, end time.Time
	err        error
}

// load calls do from n goroutines until stopped, and keeps every call.
type load struct {
	mu    sync.Mutex
	calls []call
	stop  func()
}

func startLoad(t *testing.T, n int, do func(context.Context) error) *load {
	t.Helper()
	l := &load{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				err := do(ctx)
				end := time.Now() // before the lock, which waitCalls holds a while
				if ctx.Err() != nil {
					return
				}
				l.mu.Lock()
				l.calls = append(l.calls, call{start, end, err})
				l.mu.Unlock()
			}
		})
	}
	var once sync.Once
	l.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(l.stop)
	return l
}

// since returns the calls begun at or after t.
func (l *load) since(t time.Time) []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cs []call
	for _, c := range l.calls {
		if !c.start.Before(t) {
			cs = append(cs, c)
		}
	}
	return cs
}

// waitCalls polls until at least n calls begun at or after t have ended,
// and at least failures of them failed.
func (l *load) waitCalls(t *testing.T, from time.Time, n, failures int) {
	t.Helper()
	redistest.Eventually(t, 15*time.Second, func() error {
		cs := l.since(from)
		failed := 0
		for _, c := range cs {
			if c.err != nil {
				failed++
			}
		}
		if len(cs) < n || failed < failures {
			return fmt.Errorf("%d calls, %d failed; waiting for %d and %d", len(cs), failed, n, failures)
		}
		return nil
	})
}

// TestRedisFrozenRedisBound freezes Redis (SIGSTOP) under concurrent
// reads and activity writes: every call waits session.redis.timeout at
// most, dial, pool wait, write and read together, and then fails as
// ErrUnavailable (gate answers 503). Once Redis runs again, calls succeed.
func TestRedisFrozenRedisBound(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	cfg := redistest.Config()
	cfg.Host, cfg.Port = hostPort(srv)
	cfg.Timeout = timeout
	s := newRedisStore(t, cfg, time.Now)
	id := newIdentity()
	rec := id.session(t, s, time.Now(), false)

	reads := startLoad(t, 16, func(ctx context.Context) error {
		_, err := s.Get(ctx, rec.ID)
		return err
	})
	writes := startLoad(t, 2, func(ctx context.Context) error {
		return s.Touch(ctx, rec.ID, time.Now())
	})
	reads.waitCalls(t, time.Time{}, 50, 0)

	srv.Pause(t)
	frozen := time.Now()
	// Long enough for every call to have met the frozen server: more
	// failures than the pool holds connections, and writes queued behind
	// the reads.
	reads.waitCalls(t, frozen, 40, 40)
	writes.waitCalls(t, frozen, 4, 4)
	srv.Resume(t)
	resumed := time.Now()
	reads.waitCalls(t, resumed.Add(slack), 50, 0)
	reads.stop()
	writes.stop()

	for name, l := range map[string]*load{"get": reads, "touch": writes} {
		for _, c := range l.since(frozen) {
			if !c.end.Before(resumed) {
				break
			}
			if d := c.end.Sub(c.start); d > timeout+slack {
				t.Errorf("%s on a frozen Redis took %v; want at most the timeout, %v", name, d, timeout)
			}
			if c.err != nil && !errors.Is(c.err, session.ErrUnavailable) {
				t.Errorf("%s on a frozen Redis: %v; want ErrUnavailable", name, c.err)
			}
		}
	}
	for _, c := range reads.since(resumed.Add(slack)) {
		if c.err != nil {
			t.Fatalf("Get %v after Redis resumed: %v", c.start.Sub(resumed), c.err)
		}
	}
}

// TestRedisSentinelKillSwitch kills the master (SIGKILL) under concurrent
// reads: the sentinels promote the replica and announce +switch-master,
// and the store follows at once, its reads succeeding within the bound of
// the announcement.
func TestRedisSentinelKillSwitch(t *testing.T) {
	const bound = 250 * time.Millisecond // 100 ms is the product's target, measured in docs/reliability.md
	g := redistest.StartSentinel(t, redistest.SentinelOptions{Password: masterPass})
	cfg := redistest.Config()
	cfg.Password = masterPass
	cfg.Timeout = time.Second
	cfg.HighAvailability = &config.RedisSentinel{SentinelName: redistest.MasterName, Nodes: nodes(g.Addrs)}
	s := newRedisStore(t, cfg, time.Now)
	rec := newIdentity().session(t, s, time.Now(), false)
	switched := g.SwitchMaster(t)

	reads := startLoad(t, 16, func(ctx context.Context) error {
		_, err := s.Get(ctx, rec.ID)
		if errors.Is(err, session.ErrNotFound) {
			// Replication is asynchronous: a session may be lost with
			// the master. The store answered; that is what counts here.
			return nil
		}
		return err
	})
	reads.waitCalls(t, time.Time{}, 50, 0)

	killed := time.Now()
	g.KillMaster(t)
	var at time.Time
	select {
	case at = <-switched:
	case <-time.After(30 * time.Second):
		t.Fatal("no +switch-master within 30s of killing the master")
	}
	reads.waitCalls(t, at.Add(bound), 50, 0)
	reads.stop()

	var first time.Time
	for _, c := range reads.since(at) {
		if c.err == nil && (first.IsZero() || c.end.Before(first)) {
			first = c.end
		}
		if c.err != nil && c.start.After(at.Add(bound)) {
			t.Errorf("Get begun %v after +switch-master failed: %v", c.start.Sub(at), c.err)
		}
	}
	if first.IsZero() {
		t.Fatalf("no read served after +switch-master")
	}
	if lag := first.Sub(at); lag > bound {
		t.Errorf("first read served %v after +switch-master; want within %v", lag, bound)
	}
	t.Logf("master killed; +switch-master %v later; first read served %v after it", at.Sub(killed), first.Sub(at))
}
