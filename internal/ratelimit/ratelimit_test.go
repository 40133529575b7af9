package ratelimit_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/config"
	"gate/internal/ratelimit"
	"gate/internal/redisconn"
	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

var hmacKey = []byte("0123456789abcdef0123456789abcdef")

func TestKey(t *testing.T) {
	base := ratelimit.Key(hmacKey, 0, ratelimit.ByUser, "alice")
	tests := []struct {
		name string
		key  string
	}{
		{"other_rule", ratelimit.Key(hmacKey, 1, ratelimit.ByUser, "alice")},
		{"other_kind", ratelimit.Key(hmacKey, 0, ratelimit.ByClient, "alice")},
		{"other_who", ratelimit.Key(hmacKey, 0, ratelimit.ByUser, "bob")},
		{"other_hmac_key", ratelimit.Key([]byte("another key of at least 32 bytes"), 0, ratelimit.ByUser, "alice")},
	}
	for _, tt := range tests {
		if tt.key == base {
			t.Errorf("%s: same key as the base counter", tt.name)
		}
	}
	if strings.Contains(base, "alice") || len(base) != 64 {
		t.Errorf("Key = %q; want 64 hex digits naming no one", base)
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
	}
	for _, tt := range tests {
		if got := ratelimit.ClientKey(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("ClientKey(%s) = %q; want %q", tt.addr, got, tt.want)
		}
	}
}

// TestMemoryGCRA walks one key through a limit of 4 per minute: the burst
// of 4, a refusal with the time until the next allowance, one request back
// every 15 seconds, and no second burst at a minute's edge.
func TestMemoryGCRA(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m := ratelimit.NewMemory(0, clock.Now)
	limit := ratelimit.Limit{Requests: 4, Period: time.Minute}
	steps := []struct {
		advance   time.Duration
		allowed   bool
		remaining int
		retry     time.Duration
	}{
		{0, true, 3, 0},
		{0, true, 2, 0},
		{0, true, 1, 0},
		{0, true, 0, 0},
		{0, false, 0, 15 * time.Second},
		{10 * time.Second, false, 0, 5 * time.Second},
		{5 * time.Second, true, 0, 0},
		{0, false, 0, 15 * time.Second},
		// At the minute's edge only what was earned back is admitted.
		{45 * time.Second, true, 2, 0},
		{0, true, 1, 0},
		{0, true, 0, 0},
		{0, false, 0, 15 * time.Second},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		got, err := m.Allow(context.Background(), "k", limit)
		if err != nil {
			t.Fatal(err)
		}
		if got.Allowed != s.allowed || got.Remaining != s.remaining || got.RetryAfter != s.retry {
			t.Errorf("step %d: got allowed=%v remaining=%d retry=%v; want %v %d %v",
				i, got.Allowed, got.Remaining, got.RetryAfter, s.allowed, s.remaining, s.retry)
		}
	}
}

// TestMemoryHugeLimit: more requests than nanoseconds in the period is a
// valid configuration and must not divide by zero.
func TestMemoryHugeLimit(t *testing.T) {
	m := ratelimit.NewMemory(0, nil)
	res, err := m.Allow(context.Background(), "k", ratelimit.Limit{Requests: 1 << 40, Period: time.Second})
	if err != nil || !res.Allowed {
		t.Errorf("Allow = %+v, %v; want allowed", res, err)
	}
}

// TestMemoryBounded: a flood of new keys never grows the table past its
// bound.
func TestMemoryBounded(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const bound = 64
	m := ratelimit.NewMemory(bound, clock.Now)
	limit := ratelimit.Limit{Requests: 2, Period: time.Hour}
	ctx := context.Background()
	for i := range 10_000 {
		if _, err := m.Allow(ctx, fmt.Sprint("flood", i), limit); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Len(); got > bound {
		t.Errorf("Len = %d after a flood; want at most %d", got, bound)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := ratelimit.NewMemory(0, nil)
	limit := ratelimit.Limit{Requests: 10, Period: time.Hour}
	if got := admitted(t, []ratelimit.Limiter{m}, "k", limit, 100); got != 10 {
		t.Errorf("admitted %d of 100; want 10", got)
	}
}

// admitted sends n requests of key spread over limiters, at once, and
// counts those admitted.
func admitted(t *testing.T, limiters []ratelimit.Limiter, key string, limit ratelimit.Limit, n int) int {
	t.Helper()
	var (
		ok   atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, n)
	)
	for i := range n {
		wg.Go(func() {
			res, err := limiters[i%len(limiters)].Allow(context.Background(), key, limit)
			if err != nil {
				errs <- err
				return
			}
			if res.Allowed {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return int(ok.Load())
}

func plain(t testing.TB) *redistest.Server {
	return redistest.Shared(t, "plain", func(t testing.TB) *redistest.Server {
		return redistest.StartServer(t, redistest.ServerOptions{})
	})
}

// newRedis returns a limiter on a client of its own, as a gate instance has.
func newRedis(t testing.TB, cfg config.Redis) *ratelimit.Redis {
	t.Helper()
	client, _, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return ratelimit.NewRedis(client, cfg.StatePrefix)
}

func plainConfig(t testing.TB) config.Redis {
	c := redistest.Config()
	c.Host, c.Port = "127.0.0.1", plain(t).Port
	return c
}

// TestRedisShared: two instances on one Redis share each counter, the
// counter lives under <state_prefix>rl: with a TTL of at most the period,
// and the answer carries what the headers need.
func TestRedisShared(t *testing.T) {
	t.Parallel()
	cfg := plainConfig(t)
	a, b := newRedis(t, cfg), newRedis(t, cfg)
	limit := ratelimit.Limit{Requests: 10, Period: time.Minute}
	key := ratelimit.Key(hmacKey, 0, ratelimit.ByClient, "192.0.2.1")
	// 100 requests at once over both admit the limit; one more may come
	// back while they run (one per 6 s here: none in practice).
	if got := admitted(t, []ratelimit.Limiter{a, b}, key, limit, 100); got < 10 || got > 11 {
		t.Errorf("admitted %d of 100 over two instances; want 10 (+1 tolerance)", got)
	}
	res, err := b.Allow(context.Background(), key, limit)
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > 6*time.Second || res.ResetAfter <= 0 || res.ResetAfter > time.Minute {
		t.Errorf("after the limit: %+v; want refused, retry in (0, 6s], reset in (0, 1m]", res)
	}
	admin := plain(t).Admin()
	ttl, err := admin.TTL(context.Background(), cfg.StatePrefix+"rl:"+key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL of %srl:<key> = %v; want in (0, 1m]", cfg.StatePrefix, ttl)
	}
	keys, err := admin.Keys(context.Background(), cfg.StatePrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{cfg.StatePrefix + "rl:" + key}; fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("keys under the state prefix = %v; want %v", keys, want)
	}
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.Shared(t, "cluster", redistest.StartCluster)
	cfg := redistest.Config()
	for _, a := range cl.Addrs {
		host, port, _ := strings.Cut(a, ":")
		var p int
		fmt.Sscan(port, &p)
		cfg.Cluster = appendNode(cfg.Cluster, config.RedisNode{Host: host, Port: p})
	}
	a, b := newRedis(t, cfg), newRedis(t, cfg)
	limit := ratelimit.Limit{Requests: 5, Period: time.Minute}
	for i := range 4 {
		key := ratelimit.Key(hmacKey, i, ratelimit.ByUser, "alice")
		if got := admitted(t, []ratelimit.Limiter{a, b}, key, limit, 20); got < 5 || got > 6 {
			t.Errorf("rule %d: admitted %d of 20 on a cluster; want 5 (+1 tolerance)", i, got)
		}
	}
}

func appendNode(c *config.RedisCluster, n config.RedisNode) *config.RedisCluster {
	if c == nil {
		c = &config.RedisCluster{}
	}
	c.Nodes = append(c.Nodes, n)
	return c
}

// TestRedisDown: an unreachable Redis is an error, for the caller to
// fail closed on.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	r := ratelimit.NewRedis(client, "gate:")
	if _, err := r.Allow(context.Background(), "k", ratelimit.Limit{Requests: 1, Period: time.Second}); err == nil {
		t.Error("Allow on an unreachable Redis: no error")
	}
}
