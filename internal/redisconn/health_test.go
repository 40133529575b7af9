package redisconn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/redisconn"
)

// fakeRedis answers as told: with err while it is set.
type fakeRedis struct {
	mu  sync.Mutex
	err error
}

func (f *fakeRedis) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeRedis) answer() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// command runs one command against f as the client hook sees it.
func (f *fakeRedis) command(ctx context.Context, h *redisconn.Health) {
	start := time.Now()
	h.ObserveCommand(ctx, start, f.answer())
}

// events collects a Health's reports.
type events struct {
	mu  sync.Mutex
	got []redisconn.Event
}

func (e *events) report(ev redisconn.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) kinds() []redisconn.EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var k []redisconn.EventKind
	for _, ev := range e.got {
		k = append(k, ev.Kind)
	}
	return k
}

func (e *events) last() redisconn.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got[len(e.got)-1]
}

func (e *events) all() []redisconn.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]redisconn.Event(nil), e.got...)
}

var errRefused = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// traffic sends a request every interval for d, as a loaded gate would.
func traffic(f *fakeRedis, h *redisconn.Health, interval, d time.Duration) (requests int) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(interval) {
		f.command(context.Background(), h)
		requests++
	}
	return requests
}

// startWatch runs Watch with f as the ping until the test ends.
func startWatch(t *testing.T, f *fakeRedis, h *redisconn.Health) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Watch(ctx, func(ctx context.Context) error {
			f.command(ctx, h)
			return nil
		}, redisconn.WatchOptions{})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func wantKinds(t *testing.T, e *events, want ...redisconn.EventKind) {
	t.Helper()
	if got := e.kinds(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v; want %v (%+v)", got, want, e.all())
	}
}

// TestHealthOneReportPerOutage: under steady traffic, a 25-second outage
// gives one report as it starts, a summary every ten seconds counting the
// failed requests, and one report as it ends with its true duration and
// every failed request counted once. Time is synctest's: the 25 000
// requests take no time.
func TestHealthOneReportPerOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var e events
		f := &fakeRedis{}
		h := redisconn.NewHealth(e.report)
		if h.Up() {
			t.Error("Up before Redis ever answered")
		}
		startWatch(t, f, h)
		synctest.Wait()
		wantKinds(t, &e, redisconn.Reachable)
		traffic(f, h, time.Millisecond, time.Second)

		f.set(errRefused)
		began := time.Now()
		failed := traffic(f, h, time.Millisecond, 25*time.Second)
		f.set(nil)
		back := time.Now()
		traffic(f, h, time.Millisecond, 2*time.Second)

		wantKinds(t, &e, redisconn.Reachable, redisconn.Unreachable, redisconn.StillUnreachable,
			redisconn.StillUnreachable, redisconn.ReachableAgain)
		all := e.all()
		if !errors.Is(all[1].Err, errRefused) {
			t.Errorf("outage reported with %v; want the first failure", all[1].Err)
		}
		var summarised int64
		for _, ev := range all[2:4] {
			summarised += ev.Failed
			if ev.Failed < 9900 || ev.Failed > 10100 {
				t.Errorf("summary counts %d failed requests; want the ~10 000 of its ten seconds", ev.Failed)
			}
		}
		end := e.last()
		if want := back.Sub(began); end.Duration < want || end.Duration > want+2*time.Millisecond {
			t.Errorf("outage lasted %v; want %v, from the first failure to the first answer", end.Duration, want)
		}
		if end.Failed != int64(failed) {
			t.Errorf("outage counted %d failed requests; want %d", end.Failed, failed)
		}
		if summarised >= end.Failed {
			t.Errorf("summaries counted %d of %d failures: the last five seconds are missing", summarised, end.Failed)
		}
		if !h.Up() || h.Outages() != 1 {
			t.Errorf("Up = %v, Outages = %d; want true, 1", h.Up(), h.Outages())
		}
	})
}

// TestHealthPartialOutageIsOne: a Redis that fails every other request for
// five seconds (one Cluster master down) is one outage, not one per
// failure; it ends once requests have succeeded for Quiet.
func TestHealthPartialOutageIsOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var e events
		f := &fakeRedis{}
		h := redisconn.NewHealth(e.report)
		startWatch(t, f, h)
		synctest.Wait()

		began := time.Now()
		var lastFail time.Time
		for i := range 50 {
			if i%2 == 0 {
				f.set(errors.New("CLUSTERDOWN Hash slot not served"))
				lastFail = time.Now()
			} else {
				f.set(nil)
			}
			traffic(f, h, 10*time.Millisecond, 100*time.Millisecond)
		}
		f.set(nil)
		if h.Up() {
			t.Error("Up right after the last failure")
		}
		traffic(f, h, 10*time.Millisecond, 3*time.Second)

		wantKinds(t, &e, redisconn.Reachable, redisconn.Unreachable, redisconn.ReachableAgain)
		want := lastFail.Add(100 * time.Millisecond).Sub(began)
		if got := e.last().Duration; got < want || got > want+20*time.Millisecond {
			t.Errorf("outage lasted %v; want about %v, to the first answer after the last failure", got, want)
		}
	})
}

// TestHealthStaleAnswer: a command sent before the outage began that is
// answered during it (it was in flight) does not end the outage; one sent
// after it began does.
func TestHealthStaleAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var e events
		h := redisconn.NewHealth(e.report)
		ctx := context.Background()
		h.ObserveCommand(ctx, time.Now(), nil)
		before := time.Now()
		time.Sleep(time.Millisecond)
		h.ObserveCommand(ctx, time.Now(), errRefused)
		time.Sleep(time.Millisecond)
		h.ObserveCommand(ctx, before, nil)
		// Watch is what ends outages; run it with a ping that fails, so
		// that only the requests above count.
		f := &fakeRedis{err: errRefused}
		startWatch(t, f, h)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		wantKinds(t, &e, redisconn.Reachable, redisconn.Unreachable)

		f.set(nil)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		wantKinds(t, &e, redisconn.Reachable, redisconn.Unreachable, redisconn.ReachableAgain)
	})
}

// TestHealthIdleOutage: with no requests at all, Watch's pings see an
// outage within a second and time its end within a tenth of one; they
// count as no failed request.
func TestHealthIdleOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var e events
		f := &fakeRedis{}
		h := redisconn.NewHealth(e.report)
		startWatch(t, f, h)
		synctest.Wait()

		time.Sleep(300 * time.Millisecond)
		f.set(errRefused)
		time.Sleep(time.Second)
		synctest.Wait()
		wantKinds(t, &e, redisconn.Reachable, redisconn.Unreachable)

		time.Sleep(4 * time.Second)
		f.set(nil)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		wantKinds(t, &e, redisconn.Reachable, redisconn.Unreachable, redisconn.ReachableAgain)
		end := e.last()
		// Down for 5 s; first seen by the ping 0.7 s after, back within
		// 0.1 s of the next ping.
		if end.Duration < 4200*time.Millisecond || end.Duration > 4400*time.Millisecond {
			t.Errorf("outage lasted %v by the pings; want 4.3s", end.Duration)
		}
		if end.Failed != 0 {
			t.Errorf("%d failed requests counted; the pings are not requests", end.Failed)
		}
	})
}

// TestHealthDownAtStart: an outage from the start is reported as one.
func TestHealthDownAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var e events
		f := &fakeRedis{err: errRefused}
		h := redisconn.NewHealth(e.report)
		startWatch(t, f, h)
		time.Sleep(5 * time.Second)
		f.set(nil)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		wantKinds(t, &e, redisconn.Unreachable, redisconn.ReachableAgain)
		if h.Outages() != 1 || !h.Up() {
			t.Errorf("Outages = %d, Up = %v; want 1, true", h.Outages(), h.Up())
		}
	})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want any
	}{
		{"ok", nil, redisconn.Answered},
		{"miss", redis.Nil, redisconn.Answered},
		{"miss_wrapped", fmt.Errorf("get: %w", redis.Nil), redisconn.Answered},
		{"noscript", replyError("NOSCRIPT No matching script. Please use EVAL."), redisconn.Answered},
		{"refused", errRefused, redisconn.Failed},
		{"timeout", context.DeadlineExceeded, redisconn.Failed},
		{"loading", replyError("LOADING Redis is loading the dataset in memory"), redisconn.Failed},
		{"readonly", replyError("READONLY You can't write against a read only replica."), redisconn.Failed},
		{"clusterdown", replyError("CLUSTERDOWN The cluster is down"), redisconn.Failed},
		{"wrongpass", replyError("WRONGPASS invalid username-password pair or user is disabled."), redisconn.Failed},
		{"max_clients", replyError("ERR max number of clients reached"), redisconn.Failed},
		{"old_redis_setinfo", replyError("ERR unknown subcommand 'setinfo'. Try CLIENT HELP."), redisconn.Answered},
		{"canceled", context.Canceled, redisconn.Moot},
		{"canceled_wrapped", fmt.Errorf("dial: %w", context.Canceled), redisconn.Moot},
		{"closed", redis.ErrClosed, redisconn.Moot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redisconn.Classify(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}

// replyError is an error reply from Redis, as go-redis returns it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}
