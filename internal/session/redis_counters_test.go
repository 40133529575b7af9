package session_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gate/internal/regulation"
	"gate/internal/session"
)

var _ regulation.Counters = (*session.RedisCounters)(nil)

// TestCounters runs one table against the memory counters and the Redis
// ones: both must count, ban and forget alike. Both run on the wall clock
// here (Redis windows are TTLs), so the windows are short.
func TestCounters(t *testing.T) {
	impls := []struct {
		name string
		new  func(t testing.TB) regulation.Counters
	}{
		{"memory", func(testing.TB) regulation.Counters {
			return regulation.NewMemoryCounters(regulation.MemoryOptions{})
		}},
		{"redis", func(t testing.TB) regulation.Counters { return newCounters(t, plainConfig(t)) }},
	}
	const window = 150 * time.Millisecond
	tests := []struct {
		name string
		run  func(t *testing.T, c regulation.Counters)
	}{
		{"fail_counts_and_reset_forgets", func(t *testing.T, c regulation.Counters) {
			for want := int64(1); want <= 3; want++ {
				if got := mustFail(t, c, "k", time.Minute); got != want {
					t.Fatalf("Fail #%d = %d", want, got)
				}
			}
			if err := c.Reset(ctx(), "k"); err != nil {
				t.Fatal(err)
			}
			if got := mustFail(t, c, "k", time.Minute); got != 1 {
				t.Errorf("Fail after Reset = %d; want 1", got)
			}
			if got := mustFail(t, c, "other", time.Minute); got != 1 {
				t.Errorf("Fail of another key = %d; want 1", got)
			}
		}},
		{"window_runs_from_the_first_failure", func(t *testing.T, c regulation.Counters) {
			mustFail(t, c, "k", window)
			mustFail(t, c, "k", time.Hour) // does not restart the window
			// Real time must pass for the window (a Redis TTL) to end.
			time.Sleep(window + 50*time.Millisecond)
			if got := mustFail(t, c, "k", window); got != 1 {
				t.Errorf("Fail after the window = %d; want 1, a new window", got)
			}
		}},
		{"ban_not_extended", func(t *testing.T, c regulation.Counters) {
			if d := mustBanned(t, c, "k"); d != 0 {
				t.Errorf("Banned before Ban = %v; want 0", d)
			}
			if err := c.Ban(ctx(), "k", time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := c.Ban(ctx(), "k", time.Hour); err != nil {
				t.Fatal(err)
			}
			if d := mustBanned(t, c, "k"); d <= 50*time.Second || d > time.Minute {
				t.Errorf("Banned = %v; want just under 1m: a running ban is not extended", d)
			}
			// Reset forgets failures, not bans.
			if err := c.Reset(ctx(), "k"); err != nil {
				t.Fatal(err)
			}
			if d := mustBanned(t, c, "k"); d <= 0 {
				t.Errorf("Banned after Reset = %v; want the ban kept", d)
			}
		}},
		{"ban_ends", func(t *testing.T, c regulation.Counters) {
			if err := c.Ban(ctx(), "k", window); err != nil {
				t.Fatal(err)
			}
			if d := mustBanned(t, c, "k"); d <= 0 || d > window {
				t.Errorf("Banned = %v; want (0, %v]", d, window)
			}
			time.Sleep(window + 50*time.Millisecond)
			if d := mustBanned(t, c, "k"); d != 0 {
				t.Errorf("Banned after the end = %v; want 0", d)
			}
		}},
		{"concurrent_failures_all_count", func(t *testing.T, c regulation.Counters) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 25 {
						if _, err := c.Fail(ctx(), "k", time.Minute); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if got := mustFail(t, c, "k", time.Minute); got != 201 {
				t.Errorf("count = %d; want 201", got)
			}
		}},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.run(t, impl.new(t))
				})
			}
		})
	}
}

// TestRedisCountersKeys checks the key names and their TTLs.
func TestRedisCountersKeys(t *testing.T) {
	cfg := plainConfig(t)
	admin := plain(t).Admin()
	c := newCounters(t, cfg)
	mustFail(t, c, "u:abc", time.Minute)
	if err := c.Ban(ctx(), "u:abc", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{
		cfg.StatePrefix + "fail:u:abc": time.Minute,
		cfg.StatePrefix + "ban:u:abc":  2 * time.Minute,
	} {
		got, err := admin.PTTL(ctx(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got <= want-5*time.Second || got > want {
			t.Errorf("PTTL %s = %v; want about %v", key, got, want)
		}
	}
	if keys := scanKeys(t, admin, cfg.StatePrefix); len(keys) != 2 {
		t.Errorf("keys under the state prefix = %q; want 2", keys)
	}
}

func ctx() context.Context { return context.Background() }

func mustFail(t testing.TB, c regulation.Counters, key string, window time.Duration) int64 {
	t.Helper()
	n, err := c.Fail(ctx(), key, window)
	if err != nil {
		t.Fatalf("Fail: %v", err)
	}
	return n
}

func mustBanned(t testing.TB, c regulation.Counters, key string) time.Duration {
	t.Helper()
	d, err := c.Banned(ctx(), key)
	if err != nil {
		t.Fatal(fmt.Errorf("Banned: %w", err))
	}
	return d
}
