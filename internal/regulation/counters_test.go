package regulation_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/config"
	"gate/internal/redisconn"
	"gate/internal/regulation"
	"gate/internal/testkit/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// plain is a Redis server shared by this package's tests, each keeping to
// its own key prefix.
func plain(t testing.TB) *redistest.Server {
	return redistest.Shared(t, "plain", func(t testing.TB) *redistest.Server {
		return redistest.StartServer(t, redistest.ServerOptions{})
	})
}

func cluster(t testing.TB) *redistest.Cluster {
	return redistest.Shared(t, "cluster", redistest.StartCluster)
}

func plainConfig(t testing.TB) config.Redis {
	c := redistest.Config()
	c.Host, c.Port = "127.0.0.1", plain(t).Port
	return c
}

func clusterConfig(t testing.TB) config.Redis {
	c := redistest.Config()
	var nodes []config.RedisNode
	for _, a := range cluster(t).Addrs {
		host, port, _ := strings.Cut(a, ":")
		var p int
		fmt.Sscan(port, &p)
		nodes = append(nodes, config.RedisNode{Host: host, Port: p})
	}
	c.Cluster = &config.RedisCluster{Nodes: nodes}
	return c
}

// newRedisCounters returns Redis counters on a client of their own, as a
// gate instance has.
func newRedisCounters(t testing.TB, cfg config.Redis) *regulation.RedisCounters {
	t.Helper()
	client, plan, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return regulation.NewRedisCounters(client, cfg.StatePrefix, plan.String())
}

// scanKeys lists the keys under prefix on every master.
func scanKeys(t testing.TB, admin redis.UniversalClient, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var (
		mu   sync.Mutex
		keys []string
	)
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			keys = append(keys, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := admin.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, scan)
	} else {
		err = scan(ctx, admin.(*redis.Client))
	}
	if err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	return keys
}

// store is one Counters implementation under test, with a way to count
// the keys it holds.
type store struct {
	name string
	new  func(t testing.TB) (regulation.Counters, func() int)
}

func stores() []store {
	redisStore := func(cfg func(testing.TB) config.Redis, admin func(testing.TB) redis.UniversalClient) func(t testing.TB) (regulation.Counters, func() int) {
		return func(t testing.TB) (regulation.Counters, func() int) {
			c := cfg(t)
			a := admin(t)
			return newRedisCounters(t, c), func() int { return len(scanKeys(t, a, c.StatePrefix)) }
		}
	}
	return []store{
		{"memory", func(testing.TB) (regulation.Counters, func() int) {
			m := regulation.NewMemoryCounters(regulation.MemoryOptions{})
			return m, m.Len
		}},
		{"redis", redisStore(plainConfig, func(t testing.TB) redis.UniversalClient { return plain(t).Admin() })},
		{"redis_cluster", redisStore(clusterConfig, func(t testing.TB) redis.UniversalClient { return cluster(t).Admin(t) })},
	}
}

func bg() context.Context { return context.Background() }

func reserve(t testing.TB, c regulation.Counters, key string, l regulation.Limits) (time.Duration, bool) {
	t.Helper()
	wait, ok, err := c.Reserve(bg(), key, l)
	if err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	return wait, ok
}

func mustReserve(t testing.TB, c regulation.Counters, key string, l regulation.Limits) {
	t.Helper()
	if wait, ok := reserve(t, c, key, l); !ok {
		t.Fatalf("Reserve refused (wait %v); want a slot", wait)
	}
}

func mustFail(t testing.TB, c regulation.Counters, key string, l regulation.Limits) {
	t.Helper()
	if err := c.Fail(bg(), key, l); err != nil {
		t.Fatalf("Fail: %v", err)
	}
}

func mustRelease(t testing.TB, c regulation.Counters, key string, reset bool) {
	t.Helper()
	if err := c.Release(bg(), key, reset); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

// failN runs n checks that fail, one after the other.
func failN(t testing.TB, c regulation.Counters, key string, l regulation.Limits, n int) {
	t.Helper()
	for range n {
		mustReserve(t, c, key, l)
		mustFail(t, c, key, l)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCounters runs the Counters contract against the memory store and
// against Redis, single and Cluster. Everything runs on the wall clock
// (Redis windows and bans are TTLs), so the windows that must end are
// short.
func TestCounters(t *testing.T) {
	long := regulation.Limits{Max: 3, Window: time.Minute, Ban: 5 * time.Minute}
	short := regulation.Limits{Max: 3, Window: 200 * time.Millisecond, Ban: 200 * time.Millisecond}
	tests := []struct {
		name string
		run  func(t *testing.T, c regulation.Counters, keys func() int)
	}{
		{"slots_in_flight_up_to_max", func(t *testing.T, c regulation.Counters, _ func() int) {
			for range long.Max {
				mustReserve(t, c, "k", long)
			}
			if wait, ok := reserve(t, c, "k", long); ok || wait != 0 {
				t.Fatalf("Reserve with %d in flight = %v, %v; want refused with no ban", long.Max, wait, ok)
			}
			mustRelease(t, c, "k", false)
			mustReserve(t, c, "k", long)
			// Another key has slots of its own.
			mustReserve(t, c, "other", long)
		}},
		{"failures_and_flight_share_the_slots", func(t *testing.T, c regulation.Counters, _ func() int) {
			failN(t, c, "k", long, 2)
			mustReserve(t, c, "k", long)
			if _, ok := reserve(t, c, "k", long); ok {
				t.Fatal("Reserve with 2 failures and 1 in flight granted; want refused")
			}
		}},
		{"max_th_failure_bans", func(t *testing.T, c regulation.Counters, _ func() int) {
			failN(t, c, "k", long, int(long.Max)-1)
			mustReserve(t, c, "k", long)
			mustFail(t, c, "k", long)
			wait, ok := reserve(t, c, "k", long)
			if ok || wait <= long.Ban-5*time.Second || wait > long.Ban {
				t.Errorf("Reserve after %d failures = %v, %v; want refused for about %v", long.Max, wait, ok, long.Ban)
			}
		}},
		{"ban_not_extended", func(t *testing.T, c regulation.Counters, _ func() int) {
			failN(t, c, "k", long, int(long.Max))
			first, _ := reserve(t, c, "k", long)
			time.Sleep(20 * time.Millisecond)
			// Attempts during the ban are refused, and a stray failure
			// (a check whose reservation outlived a window) adds nothing.
			mustFail(t, c, "k", long)
			for range 5 {
				if _, ok := reserve(t, c, "k", long); ok {
					t.Fatal("Reserve during a ban granted")
				}
			}
			if later, _ := reserve(t, c, "k", long); later >= first || later <= 0 {
				t.Errorf("ban left = %v, then %v; want it to run down, not be extended", first, later)
			}
		}},
		{"release_reset_forgets_failures_not_ban", func(t *testing.T, c regulation.Counters, keys func() int) {
			failN(t, c, "k", long, 2)
			mustReserve(t, c, "k", long)
			mustRelease(t, c, "k", true)
			failN(t, c, "k", long, 2)
			if _, ok := reserve(t, c, "k", long); !ok {
				t.Fatal("Reserve after a reset and 2 failures refused; want the count restarted")
			}
			mustFail(t, c, "k", long) // the third since the reset: banned
			mustRelease(t, c, "k", true)
			if wait, ok := reserve(t, c, "k", long); ok || wait <= 0 {
				t.Errorf("Reserve after a reset during a ban = %v, %v; want the ban kept", wait, ok)
			}
		}},
		{"release_without_reset_keeps_failures", func(t *testing.T, c regulation.Counters, _ func() int) {
			failN(t, c, "k", long, 2)
			mustReserve(t, c, "k", long)
			mustRelease(t, c, "k", false)
			mustReserve(t, c, "k", long)
			mustFail(t, c, "k", long)
			if wait, ok := reserve(t, c, "k", long); ok || wait <= 0 {
				t.Errorf("Reserve = %v, %v; want banned: a success without reset keeps the failures", wait, ok)
			}
		}},
		{"empty_keys_are_deleted", func(t *testing.T, c regulation.Counters, keys func() int) {
			mustReserve(t, c, "a", long)
			mustRelease(t, c, "a", false)
			mustReserve(t, c, "b", long)
			mustRelease(t, c, "b", true)
			mustRelease(t, c, "never-reserved", false)
			if n := keys(); n != 0 {
				t.Errorf("keys held = %d after every check was released; want 0", n)
			}
			failN(t, c, "c", long, 1)
			if n := keys(); n != 1 {
				t.Errorf("keys held = %d after a failure; want 1", n)
			}
		}},
		{"window_ends", func(t *testing.T, c regulation.Counters, _ func() int) {
			failN(t, c, "k", short, 2)
			time.Sleep(short.Window + 50*time.Millisecond)
			failN(t, c, "k", short, 2)
			if _, ok := reserve(t, c, "k", short); !ok {
				t.Error("failures spread over more than the window banned the key")
			}
		}},
		{"reservations_die_with_the_window", func(t *testing.T, c regulation.Counters, _ func() int) {
			// An instance that crashed mid-check never releases its slots.
			for range short.Max {
				mustReserve(t, c, "k", short)
			}
			eventually(t, 5*time.Second, "slots held by lost checks never came back", func() bool {
				_, ok := reserve(t, c, "k", short)
				return ok
			})
		}},
		{"fail_after_the_window_opens_the_next", func(t *testing.T, c regulation.Counters, _ func() int) {
			failN(t, c, "k", short, 1)
			mustReserve(t, c, "k", short)
			time.Sleep(short.Window + 50*time.Millisecond)
			mustFail(t, c, "k", short)
			failN(t, c, "k", short, 1)
			if _, ok := reserve(t, c, "k", short); !ok {
				t.Fatal("refused after 2 failures in the new window; want a slot")
			}
			mustFail(t, c, "k", short)
			if wait, ok := reserve(t, c, "k", short); ok || wait <= 0 {
				t.Errorf("Reserve = %v, %v; want banned by the third failure of the new window", wait, ok)
			}
		}},
		{"ban_ends_and_consumes_its_failures", func(t *testing.T, c regulation.Counters, _ func() int) {
			failN(t, c, "k", short, int(short.Max))
			if _, ok := reserve(t, c, "k", short); ok {
				t.Fatal("not banned")
			}
			time.Sleep(short.Ban + 50*time.Millisecond)
			failN(t, c, "k", short, int(short.Max)-1)
			if _, ok := reserve(t, c, "k", short); !ok {
				t.Error("refused after the ban ended and max-1 new failures; want a fresh count")
			}
		}},
		{"concurrent_reservations_are_bounded", func(t *testing.T, c regulation.Counters, _ func() int) {
			var granted atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 40 {
				wg.Go(func() {
					<-start
					_, ok, err := c.Reserve(bg(), "k", long)
					if err != nil {
						t.Error(err)
					}
					if ok {
						granted.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			if got := granted.Load(); got != long.Max {
				t.Errorf("granted %d of 40 concurrent reservations; want %d", got, long.Max)
			}
		}},
	}
	for _, s := range stores() {
		t.Run(s.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					c, keys := s.new(t)
					tt.run(t, c, keys)
				})
			}
		})
	}
}

// TestRedisCountersKeys checks the key name and its TTL: the window from
// the first reservation, then the ban.
func TestRedisCountersKeys(t *testing.T) {
	cfg := plainConfig(t)
	admin := plain(t).Admin()
	c := newRedisCounters(t, cfg)
	l := regulation.Limits{Max: 2, Window: time.Minute, Ban: 3 * time.Minute}
	key := cfg.StatePrefix + "reg:u:abc"
	if got := c.Key("u:abc"); got != key {
		t.Fatalf("Key = %q; want %q", got, key)
	}
	pttl := func() time.Duration {
		t.Helper()
		d, err := admin.PTTL(bg(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	mustReserve(t, c, "u:abc", l)
	if got := pttl(); got <= l.Window-5*time.Second || got > l.Window {
		t.Errorf("PTTL after Reserve = %v; want about %v", got, l.Window)
	}
	mustFail(t, c, "u:abc", l)
	failN(t, c, "u:abc", l, 1)
	if got := pttl(); got <= l.Ban-5*time.Second || got > l.Ban {
		t.Errorf("PTTL after the ban started = %v; want about %v", got, l.Ban)
	}
	if keys := scanKeys(t, admin, cfg.StatePrefix); len(keys) != 1 || keys[0] != key {
		t.Errorf("keys under the state prefix = %q; want [%q]", keys, key)
	}
}
