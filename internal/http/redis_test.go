package http_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/access"
	"gate/internal/config"
	"gate/internal/cookie"
	"gate/internal/credcache"
	gatehttp "gate/internal/http"
	"gate/internal/oidc"
	"gate/internal/ratelimit"
	"gate/internal/redisconn"
	"gate/internal/regulation"
	"gate/internal/revoke"
	"gate/internal/session"
	"gate/internal/testkit/redistest"
	"gate/internal/users"
)

// writeRedisUsers writes a users file for the Redis tests' gate servers.
func writeRedisUsers(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yml")
	content := testUsers(t)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newRedisGate wires one gate server onto the Redis of cfg as gate serve
// does: its own client, the Redis store and Redis regulation counters.
// Several of them on one Redis are several gate instances.
func newRedisGate(t testing.TB, cfg config.Redis, usersPath string) *env {
	t.Helper()
	return newRedisGateWith(t, cfg, usersPath, nil)
}

// newRedisGateWith is newRedisGate whose users file is wrapped by wrap,
// when set.
func newRedisGateWith(t testing.TB, cfg config.Redis, usersPath string, wrap func(gatehttp.UserDirectory) gatehttp.UserDirectory) *env {
	t.Helper()
	return newRedisGateOIDC(t, cfg, usersPath, wrap, nil)
}

// newRedisGateOIDC is newRedisGateWith with OpenID Connect providers,
// their flow state in the same Redis.
func newRedisGateOIDC(t testing.TB, cfg config.Redis, usersPath string, wrap func(gatehttp.UserDirectory) gatehttp.UserDirectory, providers []config.OIDCProvider) *env {
	t.Helper()
	f, err := users.Open(usersPath, false, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	var u gatehttp.UserDirectory = f
	if wrap != nil {
		u = wrap(u)
	}
	rules, err := access.New(config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{
		{Domain: config.StringList{"limited.example.com"}, Policy: "bypass", RateLimit: &limitedByClient},
		{Domain: config.StringList{"bulk.example.com"}, Policy: "one_factor", RateLimit: &unreachedByUser},
		{Domain: config.StringList{"*.example.com"}, Policy: "one_factor"},
	}}, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	client, plan, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store, err := session.NewRedis(client, session.RedisOptions{RecordKey: testKeys(t).RecordCipher, NameKey: testKeys(t).KeyHash, Prefix: cfg.SessionPrefix, Name: plan.String(), PoolSize: plan.PoolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	revoker := revoke.New(store, zerolog.Nop())
	t.Cleanup(revoker.Close)
	f.OnRevoke(revoker.Revoke)
	reg, err := regulation.New(config.Regulation{MaxRetries: 3, FindTime: 2 * time.Minute, BanTime: 5 * time.Minute},
		regulation.NewRedisCounters(client, cfg.StatePrefix, plan.String()), testKeys(t).Regulation)
	if err != nil {
		t.Fatal(err)
	}
	hk, bk := testKeys(t).CookieHash, testKeys(t).CookieBlock
	cookies, err := cookie.New(cookie.Config{Name: "gate_session", HashKey: hk, BlockKey: bk, Domain: "example.com", Secure: true, SameSite: http.SameSiteLaxMode})
	if err != nil {
		t.Fatal(err)
	}
	metrics := gatehttp.NewMetrics(nil)
	provs := newProviders(t, providers, oidc.NewRedisStates(client, cfg.StatePrefix), f)
	srv, err := gatehttp.New(gatehttp.Options{
		OIDC:               provs,
		Sessions:           store,
		Cookies:            cookies,
		Users:              u,
		Metrics:            metrics,
		Header:             machineHeader,
		Tokens:             f,
		Credentials:        credcache.NewRedis(client, cfg.StatePrefix),
		CredentialKey:      testKeys(t).Credentials,
		Limiter:            ratelimit.NewRedis(client, cfg.StatePrefix),
		RateLimitKey:       testKeys(t).RateLimit,
		Rules:              rules,
		Regulator:          reg,
		Logger:             zerolog.Nop(),
		PortalURL:          portalURL,
		DefaultRedirectURL: "https://www.example.com/",
		Domain:             "example.com",
		TrustedProxies:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Expiration:         time.Hour,
		Inactivity:         5 * time.Minute,
		RememberMe:         30 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: srv, usersPath: usersPath, users: f, revoker: revoker, metrics: metrics, providers: provs}
}

func redisConfig(srv *redistest.Server) config.Redis {
	c := redistest.Config()
	c.Host, c.Port = "127.0.0.1", srv.Port
	c.Timeout = time.Second
	return c
}

// TestRedisTwoInstances runs two gate servers on one Redis: a login on
// one holds on the other, a logout or a sign-out everywhere on one is seen
// by the other at once, and a ban on one refuses logins on the other.
func TestRedisTwoInstances(t *testing.T) {
	cfg := redisConfig(redistest.StartServer(t, redistest.ServerOptions{}))
	usersPath := writeRedisUsers(t)
	a := newRedisGate(t, cfg, usersPath)
	b := newRedisGate(t, cfg, usersPath)
	app := func(e *env, c *http.Cookie) *http.Response {
		return e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c))
	}

	alice := a.mustLogin("alice", alicePass)
	resp := app(b, alice)
	wantStatus(t, resp, 200)
	wantIdentity(t, resp, "alice", "admins,dev", "alice@example.com", "Alice Smith")

	logout := func(e *env, c *http.Cookie, all bool) {
		t.Helper()
		target := "/api/logout"
		if all {
			target += "?all=true"
		}
		r := httptest.NewRequest("POST", target, nil)
		r.Header.Set("Accept", "application/json")
		r.AddCookie(c)
		wantStatus(t, e.do(r), 200)
	}
	logout(b, alice, false)
	wantStatus(t, app(a, alice), 302)
	wantStatus(t, app(b, alice), 302)

	a1 := a.mustLogin("alice", alicePass)
	a2 := b.mustLogin("alice", alicePass)
	bob := b.mustLogin("bob", "bob-password")
	logout(a, a2, true)
	for _, c := range []*http.Cookie{a1, a2} {
		wantStatus(t, app(a, c), 302)
		wantStatus(t, app(b, c), 302)
	}
	wantStatus(t, app(a, bob), 200)

	for range 3 {
		resp, _ := a.login("alice", "wrong", "")
		wantStatus(t, resp, 401)
	}
	resp, _ = b.login("alice", alicePass, "")
	wantStatus(t, resp, 429)
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Error("no Retry-After on the other instance's 429")
	}
}

// TestRedisDownFailsClosed stops Redis under a gate server: authz,
// /api/session and login answer 503 (never 200), /readyz 503, /healthz
// stays 200; once Redis is back on its port the same server recovers.
func TestRedisDownFailsClosed(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	e := newRedisGate(t, redisConfig(srv), writeRedisUsers(t))
	alice := e.mustLogin("alice", alicePass)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice)), 200)

	srv.Stop()
	for _, resp := range []*http.Response{
		e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice)),
		e.authRequest("https://app.example.com/", "", withCookie(alice)),
	} {
		wantStatus(t, resp, 503)
		wantNoIdentity(t, resp)
	}
	wantStatus(t, e.do(httptest.NewRequest("GET", "/readyz", nil)), 503)
	wantStatus(t, e.do(httptest.NewRequest("GET", "/healthz", nil)), 200)
	r := httptest.NewRequest("GET", "/api/session", nil)
	r.AddCookie(alice)
	wantStatus(t, e.do(r), 503)
	resp, c := e.login("alice", alicePass, "")
	wantStatus(t, resp, 503)
	if c != nil {
		t.Error("a login without Redis set a session cookie")
	}

	srv.Restart(t)
	redistest.Eventually(t, 10*time.Second, func() error {
		if code := e.do(httptest.NewRequest("GET", "/readyz", nil)).StatusCode; code != 200 {
			return fmt.Errorf("/readyz = %d", code)
		}
		return nil
	})
	// The test server keeps no data across the restart: alice signs in
	// again, on the same gate server.
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice)), 302)
	alice = e.mustLogin("alice", alicePass)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice)), 200)
}

// TestRedisRevocationEverywhere: one instance sees bob disabled in its users
// file; the other, whose file still has bob enabled, refuses bob's session
// as well, and still does once the first file has bob back.
func TestRedisRevocationEverywhere(t *testing.T) {
	cfg := redisConfig(redistest.StartServer(t, redistest.ServerOptions{}))
	// Two files with the same users: each instance has its own copy.
	pathA := writeRedisUsers(t)
	enabled, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}
	pathB := filepath.Join(t.TempDir(), "users.yml")
	if err := os.WriteFile(pathB, enabled, 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := newRedisGate(t, cfg, pathA), newRedisGate(t, cfg, pathB)
	bob := b.mustLogin("bob", "bob-password")
	alice := b.mustLogin("alice", alicePass)
	wantStatus(t, a.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob)), 200)

	a.reloadUsers(strings.Replace(string(enabled), "groups: [dev]", "groups: [dev]\n    disabled: true", 1))
	wantStatus(t, b.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob)), 302)
	a.reloadUsers(string(enabled))
	for _, e := range []*env{a, b} {
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob)), 302)
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice)), 200)
	}
}
