package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
)

// autheliaSessionDoc is the example of Authelia's session documentation,
// unchanged: docs/content/configuration/session/introduction.md of
// github.com/authelia/authelia (commit 23572030b), "Example Configuration",
// with the page's site variables as it renders them by default
// (example.com, auth).
const autheliaSessionDoc = `session:
  secret: 'insecure_session_secret'
  name: 'authelia_session'
  same_site: 'lax'
  inactivity: '5m'
  expiration: '1h'
  remember_me: '1M'
  cookies:
    - domain: 'example.com'
      authelia_url: 'https://auth.example.com'
      default_redirection_url: 'https://www.example.com'
      name: 'authelia_session'
      same_site: 'lax'
      inactivity: '5m'
      expiration: '1h'
      remember_me: '1d'
`

// autheliaRedisDoc is the Redis part of the session block of Authelia's
// 4.38+ example deployment, unchanged:
// examples/compose/lite/authelia/configuration.yml of the same commit. Its
// redis host is a compose service name; the test points it at its own
// redis-server through the environment, as a deployment would.
const autheliaRedisDoc = `session:
  redis:
    host: 'redis'
    port: 6379
    # This secret can also be set using the env variables AUTHELIA_SESSION_REDIS_PASSWORD_FILE
    # password: authelia
`

// TestAutheliaDocumentedSessionOnRedis serves Authelia's documented session
// block on a real redis-server: a login on the entry's portal sets the
// entry's cookie, the session lives in Redis, authz admits it on the
// domain and sends strangers to the entry's portal, and logout ends it.
func TestAutheliaDocumentedSessionOnRedis(t *testing.T) {
	redistest.LookPath(t, "redis-server")
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	dir := t.TempDir()
	docs := writeAutheliaDocs(t, dir)
	addr := testkit.FreeAddr(t)
	env := map[string]string{
		// Authelia's example secret is shorter than gate accepts; the
		// example says it can come from the environment.
		"GATE_SESSION_SECRET":     "a-session-secret-of-forty-characters-xyz",
		"GATE_SESSION_REDIS_HOST": "127.0.0.1",
		"GATE_SESSION_REDIS_PORT": strings.TrimPrefix(srv.Addr, "127.0.0.1:"),
		"GATE_SERVER_ADDRESS":     "tcp://" + addr,
	}
	args := []string{"serve"}
	for _, d := range docs {
		args = append(args, "-c", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- runGate(t, ctx, env, "", args...) }()
	base := "http://" + addr
	redistest.Eventually(t, 10*time.Second, func() error {
		select {
		case res := <-done:
			t.Fatalf("serve exited early: %d %q", res.code, res.stderr)
		default:
		}
		if got := statusOrZero(base + "/readyz"); got != http.StatusOK {
			return fmt.Errorf("/readyz = %d", got)
		}
		return nil
	})

	if got := askAuthz(t, base, "app.example.com", nil); got.StatusCode != http.StatusFound ||
		!strings.HasPrefix(got.Header.Get("Location"), "https://auth.example.com/?rd=") {
		t.Fatalf("anonymous authz: %d to %q; want 302 to the entry's portal", got.StatusCode, got.Header.Get("Location"))
	}
	cookie := loginAt(t, base, "auth.example.com")
	if cookie.Name != "authelia_session" || cookie.Domain != "example.com" {
		t.Errorf("login cookie %s for %s; want authelia_session for example.com", cookie.Name, cookie.Domain)
	}
	keys, err := srv.Admin().Keys(context.Background(), "gate:session:*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("Redis keys gate:session:* = %v, %v; want the session there", keys, err)
	}
	resp := askAuthz(t, base, "app.example.com", cookie)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Remote-User") != "alice" {
		t.Fatalf("authz with the session: %d as %q; want 200 as alice", resp.StatusCode, resp.Header.Get("Remote-User"))
	}

	req := newHostRequest(t, http.MethodPost, base+"/api/logout", "auth.example.com", nil)
	req.AddCookie(cookie)
	req.Header.Set("Accept", "application/json")
	if resp := doHTTP(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d; want 200", resp.StatusCode)
	}
	if got := askAuthz(t, base, "app.example.com", cookie); got.StatusCode != http.StatusFound {
		t.Errorf("authz after logout: %d; want 302", got.StatusCode)
	}
	cancel()
	select {
	case res := <-done:
		if res.code != 0 {
			t.Errorf("serve exit = %d; stderr %q", res.code, res.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// writeAutheliaDocs writes the two Authelia documents and gate's own
// remainder (users, rules), in load order.
func writeAutheliaDocs(t *testing.T, dir string) []string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.yml")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("users.yml", "users:\n  alice:\n    password: '"+string(hash)+"'\n")
	return []string{
		write("session.yml", autheliaSessionDoc),
		write("redis.yml", autheliaRedisDoc),
		write("gate.yml", "authentication_backend:\n  file:\n    path: '"+users+"'\n"+
			"access_control:\n  default_policy: deny\n  rules:\n    - domain: '*.example.com'\n      policy: one_factor\n"),
	}
}

// statusOrZero is the status of GET u, 0 when it gets no answer.
func statusOrZero(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// loginAt signs alice in on the portal at host and returns the session
// cookie it sets.
func loginAt(t *testing.T, base, host string) *http.Cookie {
	t.Helper()
	form := url.Values{"username": {"alice"}, "password": {"pw"}}
	req := newHostRequest(t, http.MethodPost, base+"/api/login", host, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := doHTTP(t, req)
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			return c
		}
	}
	t.Fatalf("login on %s: %d and no session cookie", host, resp.StatusCode)
	return nil
}

// askAuthz asks the forward-auth endpoint about https://host/ as a proxy
// does, with cookie when given.
func askAuthz(t *testing.T, base, host string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req := newHostRequest(t, http.MethodGet, base+"/api/authz/forward-auth", "", nil)
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", host)
	req.Header.Set("X-Forwarded-Uri", "/")
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	return doHTTP(t, req)
}

func newHostRequest(t *testing.T, method, u, host string, body *strings.Reader) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequest(method, u, body)
	} else {
		req, err = http.NewRequest(method, u, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	return req
}

// doHTTP sends req without following redirects.
func doHTTP(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	resp.Body.Close()
	return resp
}
