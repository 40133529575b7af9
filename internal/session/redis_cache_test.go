package session_test

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/config"
	"gate/internal/session"
	"gate/internal/session/sessiontest"
	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
)

// cacheSoak lengthens the race property test (10s in the harness; a short
// run otherwise).
var cacheSoak = flag.Duration("cache.soak", 1500*time.Millisecond, "how long TestRedisCacheRaceProperty races writes against reads")

// cacheLatencyStrict asks TestRedisCacheLogoutLatency for SPEC section
// 12's 10 ms p99 on top of its correctness bound: for a quiet machine, not
// the parallel suite (docs/performance.md).
var cacheLatencyStrict = flag.Bool("cache.latency-strict", false, "TestRedisCacheLogoutLatency also asserts SPEC section 12's p99 of at most 10ms")

// cacheTopology is one deployment the cache runs against, with the admin
// client an operator would use on it.
type cacheTopology struct {
	name  string
	cfg   func(t testing.TB) config.Redis
	admin func(t testing.TB) redis.UniversalClient
	// flush empties every master's database.
	flush func(t testing.TB, admin redis.UniversalClient)
}

func cacheTopologies() []cacheTopology {
	flushOne := func(t testing.TB, admin redis.UniversalClient) {
		if err := admin.FlushDB(context.Background()).Err(); err != nil {
			t.Fatalf("FLUSHDB: %v", err)
		}
	}
	return []cacheTopology{
		{"single", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(plain(t))
			c.DatabaseIndex = 9
			return c
		}, func(t testing.TB) redis.UniversalClient {
			o := plain(t).Admin().Options()
			o.DB = 9
			c := redis.NewClient(o)
			t.Cleanup(func() { c.Close() })
			return c
		}, flushOne},
		{"sentinel", func(t testing.TB) config.Redis {
			g := sentinels(t)
			c := redistest.Config()
			c.Password = masterPass
			c.HighAvailability = &config.RedisSentinel{
				SentinelName:     redistest.MasterName,
				SentinelPassword: sentinelPass,
				Nodes:            nodes(g.Addrs),
			}
			return c
		}, func(t testing.TB) redis.UniversalClient {
			g := sentinels(t)
			c := redis.NewFailoverClient(&redis.FailoverOptions{
				MasterName: redistest.MasterName, SentinelAddrs: g.Addrs,
				SentinelPassword: sentinelPass, Password: masterPass, Protocol: 2,
			})
			t.Cleanup(func() { c.Close() })
			return c
		}, flushOne},
		{"cluster", clusterConfig, func(t testing.TB) redis.UniversalClient {
			return cluster(t).Admin(t)
		}, func(t testing.TB, admin redis.UniversalClient) {
			err := admin.(*redis.ClusterClient).ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
				return c.FlushDB(ctx).Err()
			})
			if err != nil {
				t.Fatalf("FLUSHDB on every master: %v", err)
			}
		}},
	}
}

// cachedPair is two gate instances with the cache on, sharing a Redis,
// under a prefix of the test's own, which it sets in cfg.
func cachedPair(t *testing.T, cfg *config.Redis) (a, b *session.Redis) {
	t.Helper()
	cfg.SessionPrefix = redistest.Prefix() + "session:"
	a = newCachedStore(t, *cfg, time.Now)
	b = newCachedStore(t, *cfg, time.Now)
	waitCache(t, a, true)
	waitCache(t, b, true)
	return a, b
}

// mustHit reads id on s until a read comes from the cache. The first
// reads after a login may not fill it: the login's own invalidation,
// arriving while they are out, voids them.
func mustHit(t *testing.T, s *session.Redis, id string) {
	t.Helper()
	ctx := context.Background()
	for range 100 {
		before := s.CacheStats().Hits
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("Get: %v", err)
		}
		if s.CacheStats().Hits > before {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no read from the cache in 100 tries")
}

// waitRefused polls s until id is no session, for at most a second.
func waitRefused(t *testing.T, s *session.Redis, id, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		_, err := s.Get(context.Background(), id)
		if errors.Is(err, session.ErrNotFound) {
			return time.Since(start)
		}
		if err != nil {
			t.Fatalf("Get after %s: %v", what, err)
		}
		if time.Since(start) > time.Second {
			t.Fatalf("still a session 1s after %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestRedisCacheContract runs the Store contract with the cache on, on
// every topology.
func TestRedisCacheContract(t *testing.T) {
	for _, tp := range cacheTopologies() {
		t.Run(tp.name, func(t *testing.T) {
			base := tp.cfg(t)
			sessiontest.Run(t, func(t *testing.T, clock *testkit.Clock) session.Store {
				cfg := base
				cfg.SessionPrefix = redistest.Prefix() + "session:"
				s := newCachedStore(t, cfg, clock.Now)
				waitCache(t, s, true)
				return s
			})
		})
	}
}

// TestRedisCacheInvalidation checks, on every topology, that a session
// cached by instance B is refused by B once instance A logs it out, once
// an operator DELetes its key, and once the database is flushed; and that
// user revocation on A reaches B.
func TestRedisCacheInvalidation(t *testing.T) {
	ctx := context.Background()
	for _, tp := range cacheTopologies() {
		t.Run(tp.name, func(t *testing.T) {
			cfg := tp.cfg(t)
			a, b := cachedPair(t, &cfg)
			admin := tp.admin(t)
			id := newIdentity()

			t.Run("logout_on_other_instance", func(t *testing.T) {
				rec := id.session(t, a, time.Now(), false)
				mustHit(t, b, rec.ID)
				if err := a.Delete(ctx, rec.ID); err != nil {
					t.Fatal(err)
				}
				waitRefused(t, b, rec.ID, "a logout on A")
			})
			t.Run("revocation_on_other_instance", func(t *testing.T) {
				r1 := id.session(t, a, time.Now(), false)
				r2 := id.session(t, a, time.Now(), true)
				mustHit(t, b, r1.ID)
				mustHit(t, b, r2.ID)
				if _, err := a.DeleteUser(ctx, id.user); err != nil {
					t.Fatal(err)
				}
				waitRefused(t, b, r1.ID, "DeleteUser on A")
				waitRefused(t, b, r2.ID, "DeleteUser on A")
			})
			t.Run("operator_del", func(t *testing.T) {
				rec := id.session(t, a, time.Now(), false)
				mustHit(t, b, rec.ID)
				var keys []string
				for _, k := range scanKeys(t, admin, cfg.SessionPrefix) {
					if !slices.Contains(keys, k) && k[len(k)-6:] != ":index" {
						keys = append(keys, k)
					}
				}
				for _, k := range keys {
					if err := admin.Del(ctx, k).Err(); err != nil {
						t.Fatal(err)
					}
				}
				waitRefused(t, b, rec.ID, "an operator's DEL")
			})
			t.Run("flushdb", func(t *testing.T) {
				rec := id.session(t, a, time.Now(), false)
				mustHit(t, b, rec.ID)
				flushes := b.CacheStats().Flushes
				tp.flush(t, admin)
				waitRefused(t, b, rec.ID, "FLUSHDB")
				if got := b.CacheStats().Flushes; got == flushes {
					t.Errorf("flushes = %d after FLUSHDB; want more", got)
				}
				// The stream is back: sessions are cached again.
				waitCache(t, b, true)
				again := id.session(t, a, time.Now(), false)
				mustHit(t, b, again.ID)
			})
		})
	}
}

// TestRedisCacheStreamKilled kills the invalidation stream's connection:
// the cache is emptied and bypassed at once (a logout meanwhile is seen),
// then resumes once the stream is back.
func TestRedisCacheStreamKilled(t *testing.T) {
	ctx := context.Background()
	for _, tp := range cacheTopologies() {
		if tp.name == "sentinel" {
			continue // the same stream code; the failover test covers Sentinel
		}
		t.Run(tp.name, func(t *testing.T) {
			cfg := tp.cfg(t)
			a, b := cachedPair(t, &cfg)
			admin := tp.admin(t)
			id := newIdentity()
			rec := id.session(t, a, time.Now(), false)
			other := id.session(t, a, time.Now(), false)
			mustHit(t, b, rec.ID)
			mustHit(t, b, other.ID)
			flushes := b.CacheStats().Flushes

			kill := func(ctx context.Context, c redis.UniversalClient) error {
				return c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err()
			}
			var err error
			if cc, ok := admin.(*redis.ClusterClient); ok {
				err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return kill(ctx, c) })
			} else {
				err = kill(ctx, admin)
			}
			if err != nil {
				t.Fatalf("CLIENT KILL: %v", err)
			}
			// Emptied: the flush count moves, and nothing is served from
			// memory until the stream is back.
			deadline := time.Now().Add(time.Second)
			for b.CacheStats().Flushes == flushes {
				if time.Now().After(deadline) {
					t.Fatal("cache not flushed within 1s of CLIENT KILL")
				}
				time.Sleep(100 * time.Microsecond)
			}
			if err := a.Delete(ctx, rec.ID); err != nil {
				t.Fatal(err)
			}
			waitRefused(t, b, rec.ID, "a logout while the stream was down")

			waitCache(t, b, true)
			mustHit(t, b, other.ID)
		})
	}
}

// TestRedisCacheLogoutLatency ends 1000 sessions on instance A, each read
// from B's cache first, and wants every one refused on B within
// logoutBound of the end's return: a bound only a broken invalidation path
// misses (a lost invalidation leaves the stale entry until something else
// drops it), never a busy machine (183 ms was seen beside the other
// packages' tests under -race). p50 and p99 are logged; SPEC section
// 12's 10 ms at the 99th percentile is asserted only with
// -cache.latency-strict, as timed assertions flake under the parallel
// suite (gate-bench -logout-latency measures it between gate processes).
func TestRedisCacheLogoutLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 logouts")
	}
	const (
		n           = 1000
		logoutBound = time.Second
		spec99      = 10 * time.Millisecond
	)
	ctx := context.Background()
	cfg := cacheTopologies()[0].cfg(t)
	a, b := cachedPair(t, &cfg)
	id := newIdentity()
	lat := make([]time.Duration, 0, n)
	var stale uint64 // B's cache hits after a Delete returned
	for range n {
		rec := id.session(t, a, time.Now(), false)
		mustHit(t, b, rec.ID)
		if err := a.Delete(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		hits := b.CacheStats().Hits
		d, ok := refusedWithin(t, b, rec.ID, logoutBound)
		if !ok {
			t.Fatalf("logout %d: B still answers the session %v after A's Delete returned; want refused within %v", len(lat), d, logoutBound)
		}
		stale += b.CacheStats().Hits - hits
		lat = append(lat, d)
	}
	slices.Sort(lat)
	p50, p99, worst := lat[n/2], lat[n*99/100], lat[n-1]
	t.Logf("Delete on A returned to refusal on B over %d logouts: p50 %v, p99 %v, max %v; %d reads answered from B's cache meanwhile",
		n, p50, p99, worst, stale)
	if *cacheLatencyStrict && p99 > spec99 {
		t.Errorf("p99 %v; want at most %v (SPEC section 12)", p99, spec99)
	}
}

// refusedWithin polls s until id is no session or bound passes, and
// returns the time it took and whether s refused it. Between reads it
// yields the processor, no more: a cache hit makes no system call, and a
// loop of them would keep the invalidation stream's reader waiting for a
// processor on a busy machine.
func refusedWithin(t *testing.T, s *session.Redis, id string, bound time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		_, err := s.Get(context.Background(), id)
		took := time.Since(start)
		if errors.Is(err, session.ErrNotFound) {
			return took, true
		}
		if err != nil {
			t.Fatalf("Get after a logout: %v", err)
		}
		if took > bound {
			return took, false
		}
		runtime.Gosched()
	}
}

// raceTruth is what the writers did, for the readers to check against.
type raceTruth struct {
	mu sync.Mutex
	// ended holds when each ended session's end returned.
	ended map[string]time.Time
}

func (r *raceTruth) end(id string) {
	r.mu.Lock()
	r.ended[id] = time.Now()
	r.mu.Unlock()
}

// endedBefore reports whether id's end returned before t.
func (r *raceTruth) endedBefore(id string, t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.ended[id]
	return ok && e.Before(t)
}

// TestRedisCacheRaceProperty races logins, logouts, revocations,
// write-backs and an operator's DELs on instance A against reads on
// instances B and C, and checks that no read begun after an end had
// propagated (grace) answers with the session, and that once the writers
// stop every instance agrees with Redis on every session: a read that
// lost a race to an invalidation and stored the older value would stay
// wrong forever. -cache.soak sets the length (10s in the harness).
func TestRedisCacheRaceProperty(t *testing.T) {
	const (
		users   = 8
		readers = 6
		// grace is how long after an end returns a read may still see the
		// session: the invalidation's way to the other instance.
		grace = 50 * time.Millisecond
	)
	ctx := context.Background()
	cfg := cacheTopologies()[0].cfg(t)
	cfg.SessionPrefix = redistest.Prefix() + "session:"
	a := newCachedStore(t, cfg, time.Now)
	b := newCachedStore(t, cfg, time.Now)
	c := newCachedStore(t, cfg, time.Now)
	for _, s := range []*session.Redis{a, b, c} {
		waitCache(t, s, true)
	}
	truth := &raceTruth{ended: map[string]time.Time{}}
	var (
		mu  sync.Mutex
		ids []string
	)
	live := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(ids) }
	identities := make([]identity, users)
	for i := range identities {
		identities[i] = newIdentity()
	}

	stop := make(chan struct{})
	var writers, reading sync.WaitGroup
	var stale atomic.Int64
	writers.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			who := identities[rng.IntN(users)]
			cur := live()
			switch op := rng.IntN(10); {
			case op < 4 || len(cur) < 4:
				rec := who.session(t, a, time.Now(), rng.IntN(2) == 0)
				mu.Lock()
				ids = append(ids, rec.ID)
				mu.Unlock()
			case op < 7:
				id := cur[rng.IntN(len(cur))]
				if err := a.Delete(ctx, id); err != nil {
					t.Error(err)
					return
				}
				truth.end(id)
			case op < 9:
				_ = a.Touch(ctx, cur[rng.IntN(len(cur))], time.Now())
			default:
				if _, err := a.DeleteUser(ctx, who.user); err != nil {
					t.Error(err)
					return
				}
				markUser(truth, cur, who.user, a)
			}
		}
	})
	for r := range readers {
		reader := []*session.Redis{b, c}[r%2]
		reading.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				cur := live()
				if len(cur) == 0 {
					continue
				}
				id := cur[rng.IntN(len(cur))]
				began := time.Now()
				_, err := reader.Get(ctx, id)
				if err == nil && truth.endedBefore(id, began.Add(-grace)) {
					stale.Add(1)
				}
			}
		})
	}
	time.Sleep(*cacheSoak)
	close(stop)
	writers.Wait()
	reading.Wait()
	if n := stale.Load(); n > 0 {
		t.Errorf("%d reads answered with a session ended more than %v before", n, grace)
	}

	// Settled: every instance agrees with Redis (read without a cache).
	plainStore := newRedisStore(t, cfg, time.Now)
	time.Sleep(grace)
	disagree := 0
	for _, id := range live() {
		_, want := plainStore.Get(ctx, id)
		for _, s := range []*session.Redis{a, b, c} {
			if _, got := s.Get(ctx, id); (got == nil) != (want == nil) {
				disagree++
			}
		}
	}
	if disagree > 0 {
		t.Errorf("%d reads disagree with Redis after the writers stopped", disagree)
	}
	st := b.CacheStats()
	t.Logf("B: %d hits, %d misses, %d invalidations, %d flushes over %v", st.Hits, st.Misses, st.Invalidations, st.Flushes, *cacheSoak)
	if st.Hits == 0 {
		t.Error("no read was served from the cache")
	}
}

// markUser records the end of every listed session of user, as DeleteUser
// on s ended them.
func markUser(truth *raceTruth, ids []string, user string, s *session.Redis) {
	tag, _ := s.NewID(user)
	prefix := tag[:len(tag)-43]
	for _, id := range ids {
		if len(id) > len(prefix) && id[:len(prefix)] == prefix {
			truth.end(id)
		}
	}
}

// TestRedisCacheSentinelFailover logs sessions out on instance A while B
// reads them under load, across a Sentinel failover. While the failover
// runs, the old master may still answer reads that the new one has made
// old; so does the store without a cache (81 such reads in one run of
// this test with NOCACHE set), as Sentinel's own switch is not atomic: the
// store's client keeps reading the old master until its own sentinel
// subscription moves it. A logout written to the old master after the
// promotion is lost with it (Sentinel's split brain): that session lives
// on in Redis, and B is right to honour it. So the test asserts what the
// cache adds: a second of logouts and reads after the failover has
// settled, through the same instances and streams, honours no session
// logged out more than grace before, and B then agrees with Redis on every
// session (nothing stale stayed cached).
func TestRedisCacheSentinelFailover(t *testing.T) {
	const grace = 50 * time.Millisecond
	ctx := context.Background()
	// A group of its own: the sentinels may not yet know the demoted
	// master as a replica when the next test's failover asks for one.
	g := redistest.Shared(t, "cachesentinel", func(t testing.TB) *redistest.SentinelGroup {
		return redistest.StartSentinel(t, redistest.SentinelOptions{Password: masterPass, SentinelPassword: sentinelPass})
	})
	cfg := redistest.Config()
	cfg.Password = masterPass
	cfg.HighAvailability = &config.RedisSentinel{SentinelName: redistest.MasterName, SentinelPassword: sentinelPass, Nodes: nodes(g.Addrs)}
	a, b := cachedPair(t, &cfg)
	if os.Getenv("NOCACHE") != "" {
		b = newRedisStore(t, cfg, time.Now)
	}
	id := newIdentity()
	var recs []*session.Session
	for range 200 {
		recs = append(recs, id.session(t, a, time.Now(), false))
	}
	truth := &raceTruth{ended: map[string]time.Time{}}
	stop := make(chan struct{})
	var settled atomic.Pointer[time.Time]
	var wg sync.WaitGroup
	var during, reads, failed atomic.Int64
	var staleMu sync.Mutex
	staleAfter := map[string]int{} // id: reads after the failover that honoured it
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 3))
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := recs[rng.IntN(len(recs))]
				began := time.Now()
				_, err := b.Get(ctx, rec.ID)
				reads.Add(1)
				switch {
				case err == nil && truth.endedBefore(rec.ID, began.Add(-grace)):
					if s := settled.Load(); s != nil && began.After(*s) {
						staleMu.Lock()
						staleAfter[rec.ID]++
						staleMu.Unlock()
					} else {
						during.Add(1)
					}
				case err != nil && !errors.Is(err, session.ErrNotFound):
					failed.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; ; i = (i + 1) % len(recs) {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if i%2 == 0 {
				continue // half the sessions stay, for the cache to serve
			}
			if err := a.Delete(ctx, recs[i].ID); err == nil {
				truth.end(recs[i].ID)
			}
		}
	})
	time.Sleep(300 * time.Millisecond)
	g.Failover(t)
	if os.Getenv("NOCACHE") == "" {
		waitCache(t, b, true)
	}
	time.Sleep(500 * time.Millisecond) // the clients' own switch
	now := time.Now()
	settled.Store(&now)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d reads, %d failed (503), %d answered with a session logged out before, while the failover ran", reads.Load(), failed.Load(), during.Load())
	plainStore := newRedisStore(t, cfg, time.Now)
	lost := 0
	for sid, n := range staleAfter {
		if _, err := plainStore.Get(ctx, sid); err == nil {
			lost++ // the logout went to the old master and was lost
			continue
		}
		t.Errorf("%d reads after the failover honoured a session logged out more than %v before", n, grace)
	}
	t.Logf("%d logouts lost with the old master", lost)
	for _, rec := range recs {
		_, want := plainStore.Get(ctx, rec.ID)
		if _, got := b.Get(ctx, rec.ID); (got == nil) != (want == nil) {
			t.Errorf("B answers %v for a session Redis answers %v for", got, want)
		}
	}
	if os.Getenv("NOCACHE") == "" {
		mustHit(t, b, recs[0].ID)
	}
}

// TestRedisCacheTLS runs the invalidation stream over TLS, on a single
// server and on every master of a Cluster: a logout on A is refused on B.
func TestRedisCacheTLS(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(t testing.TB) config.Redis
	}{
		{"single", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(tlsServer(t))
			c.TLS = tlsSection(certs(t))
			c.TLS.ServerName = redistest.ServerName
			return c
		}},
		{"cluster", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = "rediss+cluster://" + tlsCluster(t).Addrs[0]
			c.TLS = tlsSection(certs(t))
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := tt.cfg(t)
			a, b := cachedPair(t, &cfg)
			id := newIdentity()
			for range 5 {
				rec := id.session(t, a, time.Now(), false)
				mustHit(t, b, rec.ID)
				if err := a.Delete(ctx, rec.ID); err != nil {
					t.Fatal(err)
				}
				waitRefused(t, b, rec.ID, "a logout on A")
			}
		})
	}
}
