package credcache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gate/internal/credcache"
	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
)

var hmacKey = []byte("0123456789abcdef0123456789abcdef")

func TestKey(t *testing.T) {
	base := credcache.Key(hmacKey, "alice", "pw", "stamp1")
	tests := []struct {
		name string
		key  string
	}{
		{"other_password", credcache.Key(hmacKey, "alice", "pw2", "stamp1")},
		{"other_stamp", credcache.Key(hmacKey, "alice", "pw", "stamp2")},
		{"other_user", credcache.Key(hmacKey, "bob", "pw", "stamp1")},
		{"shifted_separator", credcache.Key(hmacKey, "alice\x00pw", "", "stamp1")},
		{"other_hmac_key", credcache.Key([]byte("another key of at least 32 bytes"), "alice", "pw", "stamp1")},
	}
	for _, tt := range tests {
		if tt.key == base {
			t.Errorf("%s: same key as the base credential", tt.name)
		}
	}
	if got := credcache.Key(hmacKey, "alice", "pw", "stamp1"); got != base {
		t.Errorf("Key is not stable: %s then %s", base, got)
	}
}

type cache interface {
	Verified(ctx context.Context, key string) (bool, error)
	Remember(ctx context.Context, key string, ttl time.Duration) error
}

func TestMemory(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := credcache.NewMemory(2, clock.Now)
	ctx := context.Background()
	mustVerified(t, m, "a", false)
	if err := m.Remember(ctx, "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	mustVerified(t, m, "a", true)
	clock.Advance(time.Minute)
	mustVerified(t, m, "a", false)

	// Bounded: a full table of live entries caches nothing more.
	_ = m.Remember(ctx, "b", time.Hour)
	_ = m.Remember(ctx, "c", time.Hour)
	_ = m.Remember(ctx, "d", time.Hour)
	if got, want := m.Len(), 2; got != want {
		t.Errorf("Len = %d; want %d", got, want)
	}
	mustVerified(t, m, "d", false)
	// Expired entries make room.
	clock.Advance(time.Hour)
	_ = m.Remember(ctx, "e", time.Hour)
	mustVerified(t, m, "e", true)
}

func TestRedis(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	admin := srv.Admin()
	prefix := redistest.Prefix()
	r := credcache.NewRedis(admin, prefix)
	ctx := context.Background()
	mustVerified(t, r, "k1", false)
	if err := r.Remember(ctx, "k1", time.Minute); err != nil {
		t.Fatal(err)
	}
	mustVerified(t, r, "k1", true)
	ttl, err := admin.PTTL(ctx, prefix+"cred:k1").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("PTTL = %v, %v; want within the cache period", ttl, err)
	}
	// A second instance's client sees it.
	other := credcache.NewRedis(srv.Admin(), prefix)
	mustVerified(t, other, "k1", true)

	srv.Stop()
	if _, err := r.Verified(ctx, "k1"); err == nil {
		t.Error("Verified with Redis down: no error; want one (fail closed)")
	}
}

func mustVerified(t *testing.T, c cache, key string, want bool) {
	t.Helper()
	got, err := c.Verified(context.Background(), key)
	if err != nil || got != want {
		t.Errorf("Verified(%s) = %v, %v; want %v", key, got, err, want)
	}
}

func TestGroup(t *testing.T) {
	var g credcache.Group[int]
	var runs atomic.Int32
	release := make(chan struct{})
	const n = 20
	var wg sync.WaitGroup
	results := make([]int, n)
	for i := range n {
		wg.Go(func() {
			v, _, err := g.Do(context.Background(), "same", func() (int, error) {
				runs.Add(1)
				<-release
				return 42, nil
			})
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		})
	}
	// Every caller is waiting on the one run before it may end.
	redistest.Eventually(t, 5*time.Second, func() error {
		if runs.Load() != 1 || g.Waiters("same") != n-1 {
			return errors.New("not every caller waits on the run yet")
		}
		return nil
	})
	close(release)
	wg.Wait()
	if got := runs.Load(); got != 1 {
		t.Errorf("runs = %d; want 1", got)
	}
	for i, v := range results {
		if v != 42 {
			t.Errorf("results[%d] = %d; want 42", i, v)
		}
	}
	// A later call runs again.
	v, shared, _ := g.Do(context.Background(), "same", func() (int, error) { return 7, nil })
	if v != 7 || shared {
		t.Errorf("Do after the run = %d, shared %v; want 7, false", v, shared)
	}
}
