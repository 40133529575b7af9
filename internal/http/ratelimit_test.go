package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/config"
	"gate/internal/ratelimit"
	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
)

// The test gates' limited rules: limited.example.com (bypass) counts by
// client, api.example.com (one_factor) by user.
var (
	limitedByClient = config.RateLimit{Requests: 3, Period: config.Duration(time.Minute), By: "client"}
	limitedByUser   = config.RateLimit{Requests: 2, Period: config.Duration(time.Minute), By: "user"}
	// unreachedByUser limits bulk.example.com, for benchmarks of the
	// limiter's cost on allowed decisions.
	unreachedByUser = config.RateLimit{Requests: 1 << 40, Period: config.Duration(time.Hour), By: "user"}
)

func fromClient(addr string) reqOpt { return withHeader("X-Forwarded-For", addr) }

// wantLimited checks a refusal over the limit: the status, and the
// headers a client needs to come back at the right time.
func wantLimited(t *testing.T, resp *http.Response, status int, limit, retry, reset string) {
	t.Helper()
	wantStatus(t, resp, status)
	for k, want := range map[string]string{
		"Retry-After": retry, "RateLimit-Limit": limit, "RateLimit-Remaining": "0", "RateLimit-Reset": reset,
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	if got := resp.Header.Get("Remote-User"); got != "" {
		t.Errorf("Remote-User = %q on a refusal", got)
	}
}

// TestRateLimitByClient: 3 per minute per client on a bypass rule; the
// fourth gets 429 (forward-auth) or 403 with Retry-After (auth-request, for
// the shipped nginx configuration to turn into a 429), other clients keep
// their own allowance, an IPv6 /64 is one client, and one request comes
// back every 20 seconds.
func TestRateLimitByClient(t *testing.T) {
	e := newEnv(t, envOpts{})
	fa := func(client string) *http.Response {
		return e.forwardAuth("GET", "https", "limited.example.com", "/", fromClient(client))
	}
	for range 3 {
		wantStatus(t, fa("198.51.100.1"), 200)
	}
	wantLimited(t, fa("198.51.100.1"), 429, "3", "20", "60")
	wantLimited(t, e.authRequest("https://limited.example.com/", "GET", fromClient("198.51.100.1")), 403, "3", "20", "60")
	wantStatus(t, fa("198.51.100.2"), 200)

	for i := range 3 {
		wantStatus(t, fa(fmt.Sprintf("2001:db8:1:2::%x", i+1)), 200)
	}
	wantLimited(t, fa("2001:db8:1:2:ffff::9"), 429, "3", "20", "60")
	wantStatus(t, fa("2001:db8:1:3::1"), 200)

	e.clock.Advance(20 * time.Second)
	wantStatus(t, fa("198.51.100.1"), 200)
	wantLimited(t, fa("198.51.100.1"), 429, "3", "20", "60")
	if got, want := metricValue(t, e, `gate_authz_decisions_total{result="rate_limited"}`), "4"; got != want {
		t.Errorf("rate_limited decisions = %s; want %s", got, want)
	}
}

// TestRateLimitByUser: a by-user rule counts each user on their own,
// whichever client they come from and however they authenticate (cookie
// or Basic); a refused or unauthenticated request counts nothing.
func TestRateLimitByUser(t *testing.T) {
	e := newEnv(t, envOpts{header: machineHeader})
	alice := e.mustLogin("alice", alicePass)
	api := func(opts ...reqOpt) *http.Response {
		return e.forwardAuth("GET", "https", "api.example.com", "/", opts...)
	}
	wantStatus(t, api(fromClient("198.51.100.1"), withHeader("Accept", "application/json")), 401)
	wantStatus(t, api(withCookie(alice), fromClient("198.51.100.1")), 200)
	wantStatus(t, api(basic("alice", alicePass), fromClient("198.51.100.2")), 200)
	wantLimited(t, api(withCookie(alice), fromClient("198.51.100.3")), 429, "2", "30", "60")
	wantStatus(t, api(basic("bob", "bob-password"), fromClient("198.51.100.1")), 200)
	wantStatus(t, api(basic("bob", "bob-password"), fromClient("198.51.100.1")), 200)
	wantLimited(t, api(basic("bob", "bob-password"), fromClient("198.51.100.1")), 429, "2", "30", "60")
}

// TestRateLimitMemoryBounded: a flood of new client addresses against a
// limited rule is answered, and the limiter's table stays within its
// bound.
func TestRateLimitMemoryBounded(t *testing.T) {
	lim := ratelimit.NewMemory(256, nil)
	e := newEnv(t, envOpts{limiter: lim})
	for i := range 5000 {
		wantStatus(t, e.forwardAuth("GET", "https", "limited.example.com", "/", fromClient(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))), 200)
	}
	if got := lim.Len(); got > 256 {
		t.Errorf("limiter holds %d keys; want at most 256", got)
	}
}

// TestRateLimitRedisTwoInstances: 100 requests of one client spread over
// two gate instances on one Redis admit exactly the limit (GCRA earns one
// back every 20 s here, far longer than the requests take), and Redis
// down answers 503 on the limited rule.
func TestRateLimitRedisTwoInstances(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	cfg := redisConfig(srv)
	usersPath := writeRedisUsers(t)
	gates := []*env{newRedisGate(t, cfg, usersPath), newRedisGate(t, cfg, usersPath)}
	var (
		ok, limited atomic.Int64
		wg          sync.WaitGroup
		mu          sync.Mutex
		other       []int
	)
	for i := range 100 {
		wg.Go(func() {
			resp := gates[i%2].forwardAuth("GET", "https", "limited.example.com", "/", fromClient("203.0.113.50"))
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
			default:
				mu.Lock()
				other = append(other, resp.StatusCode)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 || limited.Load() != 97 || len(other) > 0 {
		t.Errorf("100 requests over two instances: %d admitted, %d limited, others %v; want 3, 97", ok.Load(), limited.Load(), other)
	}
	n, err := srv.Admin().Exists(t.Context(), cfg.StatePrefix+"rl:"+ratelimit.Key(testKeys(t).RateLimit, 0, ratelimit.ByClient, "203.0.113.50")).Result()
	if err != nil || n != 1 {
		t.Errorf("counter under %srl:<key>: exists = %d, %v; want 1", cfg.StatePrefix, n, err)
	}

	srv.Stop()
	wantStatus(t, gates[0].forwardAuth("GET", "https", "limited.example.com", "/", fromClient("203.0.113.51")), 503)
}

// TestRateLimitRedisOneRoundTrip: a limited decision on Redis costs one
// command more than an unlimited one (here a bypass rule, which costs
// none): one EVALSHA, whose script runs TIME, GET and SET inside Redis.
func TestRateLimitRedisOneRoundTrip(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	cfg := redisConfig(srv)
	g := newRedisGate(t, cfg, writeRedisUsers(t))
	// The first call loads the script; count the steady state.
	wantStatus(t, g.forwardAuth("GET", "https", "limited.example.com", "/", fromClient("203.0.113.60")), 200)
	admin := srv.Admin()
	if err := admin.ConfigResetStat(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, g.forwardAuth("GET", "https", "limited.example.com", "/", fromClient("203.0.113.60")), 200)
	info, err := admin.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || name == "info" || name == "config|resetstat" {
			continue
		}
		var n int
		fmt.Sscanf(rest, "%d", &n)
		got[name] = n
	}
	want := map[string]int{"evalsha": 1, "time": 1, "get": 1, "set": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("commands of one limited decision = %v; want %v", got, want)
	}
}

// TestRateLimitUnreachable: a limiter whose Redis never answers fails the
// limited rule closed and leaves unlimited rules alone.
func TestRateLimitUnreachable(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	e := newEnv(t, envOpts{limiter: ratelimit.NewRedis(client, "gate:")})
	wantStatus(t, e.forwardAuth("GET", "https", "limited.example.com", "/"), 503)
	wantStatus(t, e.authRequest("https://limited.example.com/", "GET"), 503)
	wantStatus(t, e.forwardAuth("GET", "https", "public.example.com", "/"), 200)
}

// TestRedisLeastPrivilegeACL runs a gate instance as the README's
// least-privilege ACL user, its key pattern on the test's prefix: login,
// a cookie decision, a verified and a cached Basic credential, a ban, rate
// limits and the local session cache's invalidation stream all work
// within it.
func TestRedisLeastPrivilegeACL(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	cfg := redisConfig(srv)
	prefix := strings.TrimSuffix(cfg.StatePrefix, "state:")
	// As README's "Sessions in Redis" gives it, ~gate:* being the prefix.
	acl := []any{"ACL", "SETUSER", "gate", "on", ">acl-password", "~" + prefix + "*", "+@read", "+@write", "+@scripting", "+ping", "+time",
		"+client|id", "+client|tracking", "+subscribe", "&__redis__:invalidate", "-@dangerous"}
	if err := srv.Admin().Do(t.Context(), acl...).Err(); err != nil {
		t.Fatal(err)
	}
	cfg.Username, cfg.Password = "gate", "acl-password"
	// The local session cache's stream needs CLIENT ID, CLIENT TRACKING
	// and the invalidation channel: newRedisGate waits for it to be up.
	cfg.LocalCache = config.RedisLocalCache{Enabled: true, MaxEntries: 100}
	e := newRedisGate(t, cfg, writeRedisUsers(t))

	c := e.mustLogin("alice", alicePass)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 200)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", basic("bob", "bob-password")), 200)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", basic("bob", "bob-password")), 200)
	for range 3 {
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", basic("bob", "wrong")), 401)
	}
	wantStatus(t, e.forwardAuth("GET", "https", "other.example.com", "/", basic("bob", "wrong")), 429)
	for range 3 {
		wantStatus(t, e.forwardAuth("GET", "https", "limited.example.com", "/", fromClient("198.51.100.9")), 200)
	}
	wantStatus(t, e.forwardAuth("GET", "https", "limited.example.com", "/", fromClient("198.51.100.9")), 429)
}
