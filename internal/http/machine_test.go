package http_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"gate/internal/config"
	"gate/internal/testkit/redistest"
	"gate/internal/users"
)

func basic(user, pass string) reqOpt {
	return withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
}

var machineHeader = config.HeaderBackend{Basic: true, Tokens: true, Cache: 300e9}

func TestBasicAuth(t *testing.T) {
	e := newEnv(t, envOpts{header: machineHeader})
	resp := e.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass))
	wantStatus(t, resp, 200)
	if got := resp.Header.Get("Remote-User"); got != "alice" {
		t.Errorf("Remote-User = %q; want alice", got)
	}
	if got := resp.Header.Get("Remote-Groups"); got != "admins,dev" {
		t.Errorf("Remote-Groups = %q; want admins,dev", got)
	}
	// The second request is answered from the cache: no password check.
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass)), 200)
	if got, want := metricValue(t, e, `gate_authz_credentials_total{result="verified"}`), "1"; got != want {
		t.Errorf("password checks = %s; want %s", got, want)
	}
	if got, want := metricValue(t, e, `gate_authz_credentials_total{result="cache_hit"}`), "1"; got != want {
		t.Errorf("cache hits = %s; want %s", got, want)
	}
	// Proxy-Authorization is read too, and the auth-request dialect too.
	wantStatus(t, e.authRequest("https://app.example.com/", "GET",
		withHeader("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob:bob-password")))), 200)
	// Bypass rules never look at credentials, even wrong ones.
	wantStatus(t, e.forwardAuth("GET", "https", "public.example.com", "/", basic("alice", "wrong")), 200)
}

func TestBasicAuthRefusals(t *testing.T) {
	e := newEnv(t, envOpts{header: machineHeader, maxRetries: 100})
	long := strings.Repeat("A", 10<<10)
	tests := []struct {
		name   string
		header string
		msg    string
	}{
		{"wrong_password", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:nope")), "invalid credentials"},
		{"unknown_user", "Basic " + base64.StdEncoding.EncodeToString([]byte("mallory:x")), "invalid credentials"},
		{"disabled_user", "Basic " + base64.StdEncoding.EncodeToString([]byte("carol:carol-password")), "invalid credentials"},
		{"no_colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice")), "no colon"},
		{"bad_base64", "Basic !!!not-base64", "not base64"},
		{"empty_user", "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+alicePass)), "no user name"},
		{"ten_kilobytes", "Basic " + long, "too long"},
		{"control_character", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice\n:x")), "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, endpoint := range []string{"forward-auth", "auth-request"} {
				var resp *http.Response
				if endpoint == "forward-auth" {
					resp = e.forwardAuth("GET", "https", "app.example.com", "/", withHeader("Authorization", tt.header))
				} else {
					resp = e.authRequest("https://app.example.com/", "GET", withHeader("Authorization", tt.header))
				}
				wantStatus(t, resp, 401)
				if got, want := resp.Header.Get("WWW-Authenticate"), `Basic realm="auth.example.com"`; got != want {
					t.Errorf("%s: WWW-Authenticate = %q; want %q", endpoint, got, want)
				}
				if got := resp.Header.Get("Location"); got != "" {
					t.Errorf("%s: Location = %q; want none (no redirect for machine clients)", endpoint, got)
				}
				if body := body(t, resp); !strings.Contains(body, tt.msg) {
					t.Errorf("%s: body %q; want %q", endpoint, body, tt.msg)
				}
			}
		})
	}
}

func TestBasicAuthDuplicateHeader(t *testing.T) {
	e := newEnv(t, envOpts{header: machineHeader})
	resp := e.forwardAuth("GET", "https", "app.example.com", "/", func(r *http.Request) {
		r.Header.Add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:"+alicePass)))
		r.Header.Add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob:bob-password")))
	})
	wantStatus(t, resp, 401)
}

// TestBasicAuthMalformedCountsNothing: malformed credentials change
// nothing; three wrong passwords ban, and the right one is then 429.
func TestBasicAuthRegulation(t *testing.T) {
	e := newEnv(t, envOpts{header: machineHeader})
	for range 5 {
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withHeader("Authorization", "Basic ????")), 401)
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", basic("bob", "bob-password")), 200)
	for i := range 3 {
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", fmt.Sprint("wrong", i))), 401)
	}
	resp := e.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass))
	wantStatus(t, resp, 429)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The same counters as the login form.
	r, _ := e.login("alice", alicePass, "")
	wantStatus(t, r, 429)
}

// TestBasicAuthCacheRevocation: a wrong password is never cached, and a
// new password hash or a disabled user misses the cache at once.
func TestBasicAuthCacheRevocation(t *testing.T) {
	e := newEnv(t, envOpts{header: machineHeader, maxRetries: 100})
	ok := func() int {
		return e.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass)).StatusCode
	}
	if got := ok(); got != 200 {
		t.Fatalf("status = %d; want 200", got)
	}
	e.reloadUsers(strings.Replace(testUsers(t), "  alice:\n", "  alice:\n    disabled: true\n", 1))
	if got := ok(); got != 401 {
		t.Errorf("disabled user: status = %d; want 401", got)
	}
	e.reloadUsers(testUsers(t))
	if got := ok(); got != 200 {
		t.Errorf("re-enabled: status = %d; want 200", got)
	}
	// A new password hash (same password, another salt) misses the cache:
	// one more check.
	before := metricValue(t, e, `gate_authz_credentials_total{result="verified"}`)
	e.reloadUsers(testUsers(t))
	if got := ok(); got != 200 {
		t.Errorf("new hash: status = %d; want 200", got)
	}
	after := metricValue(t, e, `gate_authz_credentials_total{result="verified"}`)
	if before == after {
		t.Errorf("verified stayed %s after a new password hash; want one more check", after)
	}
	// One wrong check so far, for the disabled user.
	for range 3 {
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", "wrong")), 401)
	}
	if got, want := metricValue(t, e, `gate_authz_credentials_total{result="invalid"}`), "4"; got != want {
		t.Errorf("invalid = %s; want %s (a wrong password is checked every time)", got, want)
	}
}

// TestBasicAuthSingleFlight: concurrent first uses of one credential
// cause one password check.
func TestBasicAuthSingleFlight(t *testing.T) {
	e := newEnv(t, envOpts{header: machineHeader})
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			codes[i] = e.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass)).StatusCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d: %d; want 200", i, c)
		}
	}
	if got, want := metricValue(t, e, `gate_authz_credentials_total{result="verified"}`), "1"; got != want {
		t.Errorf("password checks = %s; want %s", got, want)
	}
}

func TestMachineClientsOffByDefault(t *testing.T) {
	e := newEnv(t, envOpts{})
	resp := e.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass))
	wantStatus(t, resp, 302)
	if resp.Header.Get("WWW-Authenticate") != "" {
		t.Error("WWW-Authenticate with header credentials off")
	}
}

func TestTokenAuth(t *testing.T) {
	live, liveHash, _ := users.NewToken()
	expired, expiredHash, _ := users.NewToken()
	unknown, _, _ := users.NewToken()
	extra := fmt.Sprintf(`    tokens:
      - {name: ci, hash: '%s'}
  dave:
    password: '%s'
    tokens:
      - {name: old, hash: '%s', expires: 2020-01-01}
`, liveHash, cheapHash(t, "d"), expiredHash)
	// The tokens go under carol (disabled) and dave.
	e := newEnv(t, envOpts{header: machineHeader, extraUsers: extra})
	bearer := func(v string) reqOpt { return withHeader("Authorization", "Bearer "+v) }
	tests := []struct {
		name      string
		opt       reqOpt
		want      int
		challenge string
	}{
		{"disabled_user", bearer(live), 401, "Bearer"},
		{"expired", bearer(expired), 401, "Bearer"},
		{"unknown", bearer(unknown), 401, "Bearer"},
		{"wrong_shape", bearer("gate_short"), 401, "Bearer"},
		{"apps_own_bearer_passes_through", bearer("eyJhbGciOi.app.token"), 302, ""},
		{"other_scheme", withHeader("Authorization", "Digest username=alice"), 302, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.forwardAuth("GET", "https", "app.example.com", "/", tt.opt)
			wantStatus(t, resp, tt.want)
			got := resp.Header.Get("WWW-Authenticate")
			if tt.challenge == "" && got != "" || tt.challenge != "" && !strings.HasPrefix(got, tt.challenge+" realm=") {
				t.Errorf("WWW-Authenticate = %q; want scheme %q", got, tt.challenge)
			}
		})
	}

	// A live token of an enabled user.
	e.reloadUsers(strings.Replace(testUsers(t)+extra, "    disabled: true\n", "", 1))
	resp := e.forwardAuth("GET", "https", "app.example.com", "/", bearer(live))
	wantStatus(t, resp, 200)
	if got := resp.Header.Get("Remote-User"); got != "carol" {
		t.Errorf("Remote-User = %q; want carol", got)
	}
}

// TestRedisMachineClients runs two gate instances on one Redis: a
// credential verified on one is a cache hit on the other (no password
// check there), its key is under <state_prefix>cred: with the cache
// period as TTL, and a Basic-auth ban made on one refuses on the other.
func TestRedisMachineClients(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	cfg := redisConfig(srv)
	usersPath := writeRedisUsers(t)
	a := newRedisGate(t, cfg, usersPath)
	b := newRedisGate(t, cfg, usersPath)
	wantStatus(t, a.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass)), 200)
	resp := b.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass))
	wantStatus(t, resp, 200)
	if got := resp.Header.Get("Remote-User"); got != "alice" {
		t.Errorf("Remote-User = %q; want alice", got)
	}
	if got, want := metricValue(t, b, `gate_authz_credentials_total{result="verified"}`), "0"; got != want {
		t.Errorf("password checks on the second instance = %s; want %s", got, want)
	}
	if got, want := metricValue(t, b, `gate_authz_credentials_total{result="cache_hit"}`), "1"; got != want {
		t.Errorf("cache hits on the second instance = %s; want %s", got, want)
	}
	keys, err := srv.Admin().Keys(context.Background(), cfg.StatePrefix+"cred:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("cred keys = %v, %v; want one", keys, err)
	}
	if ttl := srv.Admin().PTTL(context.Background(), keys[0]).Val(); ttl <= 0 || ttl > machineHeader.Cache {
		t.Errorf("TTL = %v; want within %v", ttl, machineHeader.Cache)
	}
	if strings.Contains(keys[0], "alice") {
		t.Errorf("key %q names the user", keys[0])
	}

	// Bob's wrong passwords on a ban bob on b too.
	for i := range 3 {
		wantStatus(t, a.forwardAuth("GET", "https", "app.example.com", "/", basic("bob", fmt.Sprint("wrong", i)), fromPeer("127.0.0.2:1")), 401)
	}
	resp = b.forwardAuth("GET", "https", "app.example.com", "/", basic("bob", "bob-password"), fromPeer("127.0.0.3:1"))
	wantStatus(t, resp, 429)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	// Redis down: the cache cannot answer, and gate fails closed.
	srv.Stop()
	wantStatus(t, b.forwardAuth("GET", "https", "app.example.com", "/", basic("alice", alicePass)), 503)
}

// TestTokenRegulation: wrong tokens count towards regulation under their
// client alone. A client guessing tokens is banned, for tokens and
// passwords alike; other clients and every user are not; malformed tokens
// count nothing; a right token still passes (nothing to guess).
func TestTokenRegulation(t *testing.T) {
	live, liveHash, _ := users.NewToken()
	e := newEnv(t, envOpts{header: machineHeader, extraUsers: fmt.Sprintf("  dave:\n    password: '%s'\n    tokens:\n      - {name: ci, hash: '%s'}\n", cheapHash(t, "d"), liveHash)})
	bearer := func(v string) reqOpt { return withHeader("Authorization", "Bearer "+v) }
	app := func(opts ...reqOpt) *http.Response {
		return e.forwardAuth("GET", "https", "app.example.com", "/", opts...)
	}
	attacker, other := fromClient("198.51.100.66"), fromClient("198.51.100.67")
	for range 5 {
		wantStatus(t, app(bearer("gate_short"), attacker), 401)
	}
	for range 3 {
		wrong, _, _ := users.NewToken()
		wantStatus(t, app(bearer(wrong), attacker), 401)
	}
	wrong, _, _ := users.NewToken()
	resp := app(bearer(wrong), attacker)
	wantStatus(t, resp, 429)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// The auth-request dialect says it as 403 with Retry-After.
	resp = e.authRequest("https://app.example.com/", "GET", bearer(wrong), attacker)
	wantStatus(t, resp, 403)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("auth-request: 403 for a ban without Retry-After")
	}
	wantStatus(t, app(basic("alice", alicePass), attacker), 429)
	wantStatus(t, app(bearer(live), attacker), 200)
	// Nobody else is banned: no user was counted.
	wantStatus(t, app(basic("alice", alicePass), other), 200)
	wantStatus(t, app(bearer(wrong), other), 401)
	wantStatus(t, app(bearer(live), other), 200)
}
