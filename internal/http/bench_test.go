package http_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"gate/internal/session"
	"gate/internal/testkit/redistest"
)

// nopWriter is a ResponseWriter that keeps headers and drops the rest, so the
// benchmarks measure gate and not the recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// authzRequest is a forward-auth request as a proxy sends it, without the
// cookie.
func authzRequest() *http.Request {
	r := httptest.NewRequest("GET", "/api/authz/forward-auth", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Forwarded-Method", "GET")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "app.example.com")
	r.Header.Set("X-Forwarded-Uri", "/dashboard/items?page=2")
	r.Header.Set("X-Forwarded-For", "203.0.113.7, 10.0.0.2")
	return r
}

// benchDecision runs one allowed forward-auth decision for alice through the
// real router, in parallel: the hot path of every proxied request.
func benchDecision(b *testing.B, e *env) {
	benchDecisionWith(b, e, e.mustLogin("alice", alicePass))
}

// benchDecisionWith is benchDecision with the session cookie given.
func benchDecisionWith(b *testing.B, e *env, c *http.Cookie) {
	r := authzRequest()
	r.AddCookie(c)
	benchRequest(b, e, r)
}

// benchRequest runs r, which must be allowed for alice, in parallel.
func benchRequest(b *testing.B, e *env, r *http.Request) { benchRequestAs(b, e, r, "alice") }

// benchRequestAs runs r, which must be allowed for user, in parallel.
func benchRequestAs(b *testing.B, e *env, r *http.Request, user string) {
	check := httptest.NewRecorder()
	e.h.ServeHTTP(check, r)
	if check.Code != http.StatusOK || check.Header().Get("Remote-User") != user {
		b.Fatalf("setup: status %d, Remote-User %q", check.Code, check.Header().Get("Remote-User"))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &nopWriter{h: make(http.Header, 8)}
		for pb.Next() {
			clear(w.h)
			e.h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkForwardAuth is a decision with the memory store.
func BenchmarkForwardAuth(b *testing.B) {
	benchDecision(b, newEnv(b, envOpts{}))
}

// BenchmarkForwardAuthRedis is the same decision with the Redis store over
// loopback. It reports Redis commands per decision from INFO commandstats:
// one GET on the common path, activity write-backs being throttled.
func BenchmarkForwardAuthRedis(b *testing.B) {
	srv := redistest.StartServer(b, redistest.ServerOptions{})
	e := newRedisGate(b, redisConfig(srv), writeRedisUsers(b))
	reportRedisCommands(b, srv, func() { benchDecision(b, e) })
}

// reportRedisCommands runs bench and reports Redis commands per decision
// from INFO commandstats (a script's own calls included).
func reportRedisCommands(b *testing.B, srv *redistest.Server, bench func()) {
	admin := srv.Admin()
	calls := func() int64 {
		info, err := admin.Info(context.Background(), "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for _, line := range strings.Split(info, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok || name == "cmdstat_info" || !strings.HasPrefix(name, "cmdstat_") {
				continue
			}
			v, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
			c, _ := strconv.ParseInt(v, 10, 64)
			n += c
		}
		return n
	}
	before := calls()
	bench()
	b.StopTimer()
	// The login and the setup decision are in the count too; over b.N they
	// vanish, and a figure above 1 would show extra round trips.
	b.ReportMetric(float64(calls()-before)/float64(b.N), "redis-cmds/op")
}

// benchLimited is benchDecision on a one_factor rule with a rate_limit
// by user too large to be reached (bulk.example.com): the limiter's cost
// on an allowed decision.
func benchLimited(b *testing.B, e *env) {
	r := authzRequest()
	r.Header.Set("X-Forwarded-Host", "bulk.example.com")
	r.AddCookie(e.mustLogin("alice", alicePass))
	benchRequest(b, e, r)
}

// BenchmarkForwardAuthLimited is a rate-limited decision with memory
// counters.
func BenchmarkForwardAuthLimited(b *testing.B) {
	benchLimited(b, newEnv(b, envOpts{}))
}

// BenchmarkForwardAuthLimitedRedis is the same with the counters in Redis
// over loopback: one EVALSHA beside the session's GET.
func BenchmarkForwardAuthLimitedRedis(b *testing.B) {
	srv := redistest.StartServer(b, redistest.ServerOptions{})
	e := newRedisGate(b, redisConfig(srv), writeRedisUsers(b))
	reportRedisCommands(b, srv, func() { benchLimited(b, e) })
}

// BenchmarkForwardAuthSessions is the allowed decision against a memory
// store holding n live sessions, each request carrying a different one of
// them in random order: how the decision's cost grows with the store.
// Beyond the cookie cache's reach (131072) most requests also verify their
// cookie.
func BenchmarkForwardAuthSessions(b *testing.B) {
	for _, n := range []int{1, 1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			benchSessions(b, n)
		})
	}
}

func benchSessions(b *testing.B, n int) {
	e := newEnv(b, envOpts{})
	now := e.clock.Now()
	cookies := make([][]string, n)
	for i := range cookies {
		user := [...]string{"alice", "bob"}[i%2]
		id, err := e.store.NewID(user)
		if err != nil {
			b.Fatal(err)
		}
		u, _ := e.users.Lookup(user)
		err = e.store.Create(context.Background(), &session.Session{ID: id, User: user, Stamp: u.Stamp, Domain: "example.com", CreatedAt: now,
			LastActivity: now, ExpiresAt: now.Add(time.Hour), Inactivity: 5 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		w := httptest.NewRecorder()
		if err := e.cookies.Write(w, id, 0); err != nil {
			b.Fatal(err)
		}
		c, _, _ := strings.Cut(w.Header().Get("Set-Cookie"), ";")
		cookies[i] = []string{c}
	}
	order := rand.Perm(n)
	// Steady state: every session has been seen once, as gate sees a
	// user's first request and then the rest.
	for _, c := range cookies {
		r := httptest.NewRequest("GET", "/api/authz/forward-auth", nil)
		r.Header["Cookie"] = c
		if _, err := e.cookies.Read(r); err != nil {
			b.Fatal(err)
		}
	}

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := authzRequest()
		w := &nopWriter{h: make(http.Header, 8)}
		i := rand.IntN(n)
		for pb.Next() {
			r.Header["Cookie"] = cookies[order[i]]
			if i++; i == n {
				i = 0
			}
			clear(w.h)
			e.h.ServeHTTP(w, r)
			if w.h["Remote-User"] == nil {
				b.Error("decision was not allowed")
				return
			}
		}
	})
}

// benchBasic runs one allowed forward-auth decision for alice with Basic
// credentials already in the credential cache: the machine-client hot
// path, to compare with benchDecision's cookie.
func benchBasic(b *testing.B, e *env) {
	r := authzRequest()
	basic("alice", alicePass)(r)
	// benchRequest's check is the one password check; the cache is warm
	// after it.
	benchRequest(b, e, r)
}

// BenchmarkForwardAuthBasic is a Basic-auth decision with a warm memory
// credential cache.
func BenchmarkForwardAuthBasic(b *testing.B) {
	benchBasic(b, newEnv(b, envOpts{header: machineHeader}))
}

// BenchmarkForwardAuthBasicRedis is the same with the credential cache in
// Redis over loopback: one EXISTS per decision.
func BenchmarkForwardAuthBasicRedis(b *testing.B) {
	srv := redistest.StartServer(b, redistest.ServerOptions{})
	e := newRedisGate(b, redisConfig(srv), writeRedisUsers(b))
	reportRedisCommands(b, srv, func() { benchBasic(b, e) })
}

// BenchmarkForwardAuthProvider is the decision for a session signed in
// through an OpenID Connect provider (no users-file entry): the identity
// comes from the session record instead of the users file.
func BenchmarkForwardAuthProvider(b *testing.B) {
	e := newEnv(b, envOpts{})
	now := e.clock.Now()
	// dana, not a users-file name: a provider session of one is no session.
	sess := &session.Session{User: "dana", Email: "dana@corp.example", DisplayName: "Dana", Groups: []string{"staff", "ops"},
		Provider: "corp", Subject: "sub-dana", Domain: "example.com",
		CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour), Inactivity: 5 * time.Minute}
	id, err := e.store.NewID(sess.Owner())
	if err != nil {
		b.Fatal(err)
	}
	sess.ID = id
	if err := e.store.Create(context.Background(), sess); err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := e.cookies.Write(rec, id, 0); err != nil {
		b.Fatal(err)
	}
	r := authzRequest()
	r.AddCookie(rec.Result().Cookies()[0])
	benchRequestAs(b, e, r, "dana")
}
