package redisconn_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"gate/internal/redisconn"
)

// fakeStore answers pings as told: down while its flag is set.
type fakeStore struct {
	mu    sync.Mutex
	down  bool
	pings int
}

func (f *fakeStore) ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings++
	if f.down {
		return errors.New("connection refused")
	}
	return nil
}

func (f *fakeStore) set(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// recorder collects reports.
type recorder struct {
	mu      sync.Mutex
	reports []redisconn.Status
}

func (r *recorder) report(s redisconn.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, s)
}

func (r *recorder) take() []redisconn.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.reports
	r.reports = nil
	return s
}

// TestWatcher runs in a synctest bubble: time moves only when every
// goroutine waits, so back-off steps of many seconds take none.
func TestWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{down: true}
		rec := &recorder{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			redisconn.Watcher{Ping: store.ping, Report: rec.report}.Run(ctx)
			close(done)
		}()

		// Down from the start: one report per back-off step, doubling
		// from 1s and capped at 30s.
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		var retries []time.Duration
		for i, s := range rec.take() {
			if s.Up || s.Err == nil || s.Failures != i+1 {
				t.Fatalf("report %d = %+v; want failure %d", i, s, i+1)
			}
			retries = append(retries, s.Retry)
		}
		want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30, 30}
		if len(retries) != len(want) {
			t.Fatalf("retries = %v; want %v seconds", retries, want)
		}
		for i := range want {
			if retries[i] != want[i]*time.Second {
				t.Fatalf("retries = %v; want %v seconds", retries, want)
			}
		}

		// Back: one report with the outage's length, then silence while
		// pings keep succeeding.
		store.set(false)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		got := rec.take()
		if len(got) != 1 || !got[0].Up || got[0].Outage < 2*time.Minute {
			t.Fatalf("reports after recovery = %+v; want one Up with the outage", got)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("reports while up = %+v; want none", got)
		}

		// A new outage starts the back-off afresh.
		store.set(true)
		time.Sleep(16 * time.Second)
		synctest.Wait()
		if got := rec.take(); len(got) == 0 || got[0].Failures != 1 || got[0].Retry != time.Second {
			t.Fatalf("reports of a new outage = %+v; want failure 1 retrying in 1s", got)
		}

		cancel()
		<-done
	})
}

func TestWatcherUpAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{}
		rec := &recorder{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go redisconn.Watcher{Ping: store.ping, Report: rec.report, Every: 10 * time.Second}.Run(ctx)
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		got := rec.take()
		if len(got) != 1 || !got[0].Up || got[0].Outage != 0 {
			t.Errorf("reports = %+v; want one Up", got)
		}
		store.mu.Lock()
		pings := store.pings
		store.mu.Unlock()
		if pings != 7 {
			t.Errorf("pings in 61s every 10s = %d; want 7", pings)
		}
	})
}
