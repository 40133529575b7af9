package http_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/argon2"

	"gate/internal/access"
	"gate/internal/config"
	"gate/internal/cookie"
	"gate/internal/credcache"
	gatehttp "gate/internal/http"
	"gate/internal/keys"
	"gate/internal/oidc"
	"gate/internal/ratelimit"
	"gate/internal/regulation"
	"gate/internal/revoke"
	"gate/internal/session"
	"gate/internal/testkit"
	"gate/internal/users"
)

const (
	testSecret = "test-secret-that-is-long-enough-0123456789"
	portalURL  = "https://auth.example.com"
	alicePass  = "alice-password"
)

// testKeys are the keys derived from testSecret.
func testKeys(t testing.TB) keys.Set {
	t.Helper()
	k, err := keys.FromSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cheapHash makes an argon2id PHC string with tiny parameters, so tests do
// not spend seconds hashing; the hash carries its own parameters.
func cheapHash(t testing.TB, password string) string {
	t.Helper()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, 1, 1024, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=1024,t=1,p=1$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(key))
}

// failingStore wraps a store and fails the operations whose func is set.
type failingStore struct {
	session.Store
	get  func() error
	ping func() error
	// getCtx, when set, fails Get as it says, given the request's context.
	getCtx func(context.Context) error
}

func (f *failingStore) Get(ctx context.Context, id string) (*session.Session, error) {
	if f.get != nil {
		if err := f.get(); err != nil {
			return nil, err
		}
	}
	if f.getCtx != nil {
		if err := f.getCtx(ctx); err != nil {
			return nil, err
		}
	}
	return f.Store.Get(ctx, id)
}

func (f *failingStore) Ping(ctx context.Context) error {
	if f.ping != nil {
		return f.ping()
	}
	return f.Store.Ping(ctx)
}

type env struct {
	t         testing.TB
	h         http.Handler
	clock     *testkit.Clock
	store     *session.Memory
	failing   *failingStore
	cookies   *cookie.Codec
	usersPath string
	users     *users.File
	revoker   *revoke.Revoker
	metrics   *gatehttp.Metrics
	// providers are the OpenID Connect providers of envOpts.oidc.
	providers []*oidc.Provider
}

type envOpts struct {
	rules      []config.Rule
	defaultPol string
	maxRetries int
	inactivity time.Duration
	rememberMe time.Duration
	portalURL  string
	defaultRD  string
	extraUsers string
	// usersFile, when set, is the whole users file instead of testUsers.
	usersFile    string
	writeTimeout time.Duration
	trustedNets  []string
	// logs, when set, receives the server's debug-level log.
	logs io.Writer
	// wrapUsers, when set, wraps the users file the server checks
	// passwords with.
	wrapUsers func(gatehttp.UserDirectory) gatehttp.UserDirectory
	// header turns on Basic and token credentials; creds is the
	// credential cache (a memory one when nil and header.basic is on).
	header config.HeaderBackend
	creds  gatehttp.CredentialCache
	// limiter counts rate-limited rules (a memory one on the test clock
	// when nil).
	limiter gatehttp.RateLimiter
	// oidc are OpenID Connect providers (not yet discovered); oidcStates
	// their state store (memory when nil); noPasswords drops the users
	// file from the portal.
	oidc        []config.OIDCProvider
	oidcStates  oidc.StateStore
	noPasswords bool
	// sameSite is the session cookie's; Lax when zero.
	sameSite http.SameSite
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t, clock: testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	dir := t.TempDir()
	e.usersPath = filepath.Join(dir, "users.yml")
	if o.usersFile == "" {
		o.usersFile = testUsers(t) + o.extraUsers
	}
	e.writeUsers(o.usersFile)
	u, err := users.Open(e.usersPath, false, zerolog.Nop())
	if err != nil {
		t.Fatalf("users.Open: %v", err)
	}
	t.Cleanup(func() { _ = u.Close() })
	e.users = u

	if o.rules == nil {
		o.rules = []config.Rule{
			{Domain: config.StringList{"public.example.com"}, Policy: "bypass"},
			{Domain: config.StringList{"limited.example.com"}, Policy: "bypass", RateLimit: &limitedByClient},
			{Domain: config.StringList{"api.example.com"}, Policy: "one_factor", RateLimit: &limitedByUser},
			{Domain: config.StringList{"bulk.example.com"}, Policy: "one_factor", RateLimit: &unreachedByUser},
			{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/admin(/.*)?$"}, Subject: [][]string{{"group:admins"}}, Policy: "one_factor"},
			{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/blocked"}, Policy: "deny"},
			{Domain: config.StringList{"*.example.com"}, Policy: "one_factor"},
			{Domain: config.StringList{"outside.test"}, Policy: "bypass"},
		}
	}
	if o.defaultPol == "" {
		o.defaultPol = "deny"
	}
	rules, err := access.New(config.AccessControl{DefaultPolicy: o.defaultPol, Rules: o.rules}, "example.com")
	if err != nil {
		t.Fatalf("access.New: %v", err)
	}
	e.store = session.NewMemory(session.MemoryOptions{Now: e.clock.Now})
	t.Cleanup(func() { _ = e.store.Close() })
	e.failing = &failingStore{Store: e.store}
	// As cmd/gate wires it: revocations in the users file end sessions.
	e.revoker = revoke.New(e.store, zerolog.Nop())
	t.Cleanup(e.revoker.Close)
	u.OnRevoke(e.revoker.Revoke)

	hk, bk := testKeys(t).CookieHash, testKeys(t).CookieBlock
	cookies, err := cookie.New(cookie.Config{Name: "gate_session", HashKey: hk, BlockKey: bk, Domain: "example.com", Secure: true, SameSite: cmp.Or(o.sameSite, http.SameSiteLaxMode)})
	if err != nil {
		t.Fatalf("cookie.New: %v", err)
	}
	e.cookies = cookies
	if o.maxRetries == 0 {
		o.maxRetries = 3
	}
	reg, err := regulation.New(config.Regulation{MaxRetries: o.maxRetries, FindTime: 2 * time.Minute, BanTime: 5 * time.Minute},
		regulation.NewMemoryCounters(regulation.MemoryOptions{Now: e.clock.Now}), testKeys(t).Regulation)
	if err != nil {
		t.Fatalf("regulation.New: %v", err)
	}
	if o.inactivity == 0 {
		o.inactivity = 5 * time.Minute
	}
	if o.rememberMe == 0 {
		o.rememberMe = 30 * 24 * time.Hour
	}
	if o.portalURL == "" {
		o.portalURL = portalURL
	}
	if o.defaultRD == "" {
		o.defaultRD = "https://www.example.com/"
	}
	if o.trustedNets == nil {
		o.trustedNets = []string{"127.0.0.0/8", "10.0.0.0/8"}
	}
	var trusted []netip.Prefix
	for _, n := range o.trustedNets {
		trusted = append(trusted, netip.MustParsePrefix(n))
	}
	logger := zerolog.Nop()
	if o.logs != nil {
		logger = zerolog.New(o.logs).Level(zerolog.DebugLevel)
	}
	e.metrics = gatehttp.NewMetrics(func() float64 { return float64(e.store.Len()) })
	var checker gatehttp.UserDirectory = u
	if o.wrapUsers != nil {
		checker = o.wrapUsers(checker)
	}
	e.providers = newProviders(t, o.oidc, o.oidcStates, u)
	srv, err := gatehttp.New(gatehttp.Options{
		OIDC:               e.providers,
		NoPasswords:        o.noPasswords,
		Sessions:           e.failing,
		Cookies:            cookies,
		Users:              checker,
		Rules:              rules,
		Regulator:          reg,
		Logger:             logger,
		Metrics:            e.metrics,
		PortalURL:          o.portalURL,
		DefaultRedirectURL: o.defaultRD,
		Domain:             "example.com",
		TrustedProxies:     trusted,
		Expiration:         time.Hour,
		Inactivity:         o.inactivity,
		RememberMe:         o.rememberMe,
		WriteTimeout:       o.writeTimeout,
		Header:             o.header,
		Tokens:             u,
		Credentials:        cmp.Or[gatehttp.CredentialCache](o.creds, credcache.NewMemory(0, e.clock.Now)),
		CredentialKey:      testKeys(t).Credentials,
		Limiter:            cmp.Or[gatehttp.RateLimiter](o.limiter, ratelimit.NewMemory(0, e.clock.Now)),
		RateLimitKey:       testKeys(t).RateLimit,
		Now:                e.clock.Now,
	})
	if err != nil {
		t.Fatalf("http.New: %v", err)
	}
	e.h = srv
	return e
}

// TestLoginFromPlainHTTPBrowser is a browser posting the portal's form where
// it sends no Sec-Fetch-Site (a plain-http portal, or an older browser): the
// cross-origin check then rests on Origin alone. The portal's referrer
// policy lets the browser send its real Origin; under no-referrer it would
// send "Origin: null", which must be refused and would lock everyone out.
func TestLoginFromPlainHTTPBrowser(t *testing.T) {
	e := newEnv(t, envOpts{portalURL: "http://auth.example.com:8080", defaultRD: "http://app.example.com:8080/"})
	portal := e.do(httptest.NewRequest("GET", "http://auth.example.com:8080/", nil))
	if got := portal.Header.Get("Referrer-Policy"); got == "no-referrer" || got == "" {
		t.Fatalf("Referrer-Policy = %q; browsers would post the login form with Origin: null", got)
	}
	post := func(origin string) *http.Response {
		form := url.Values{"username": {"alice"}, "password": {alicePass}, "rd": {"http://app.example.com:8080/x"}}
		r := httptest.NewRequest("POST", "http://auth.example.com:8080/api/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", origin)
		return e.do(r)
	}
	resp := post("http://auth.example.com:8080")
	wantStatus(t, resp, 302)
	if got, want := resp.Header.Get("Location"), "http://app.example.com:8080/x"; got != want {
		t.Errorf("Location = %q; want %q", got, want)
	}
	wantStatus(t, post("null"), 403)
	wantStatus(t, post("http://evil.example.net"), 403)
}

// testUsers is the users file every test gate starts with: alice (admins,
// dev), bob (dev) and carol (disabled).
func testUsers(t testing.TB) string {
	return fmt.Sprintf(`users:
  alice:
    displayname: 'Alice Smith'
    password: '%s'
    email: alice@example.com
    groups: [admins, dev]
  bob:
    displayname: 'Bob'
    password: '%s'
    email: bob@example.com
    groups: [dev]
  carol:
    displayname: 'Carol'
    password: '%s'
    disabled: true
`, cheapHash(t, alicePass), cheapHash(t, "bob-password"), cheapHash(t, "carol-password"))
}

func (e *env) writeUsers(content string) {
	e.t.Helper()
	if err := os.WriteFile(e.usersPath, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// do serves one request from a trusted proxy at 127.0.0.1.
func (e *env) do(r *http.Request) *http.Response {
	e.t.Helper()
	if r.RemoteAddr == "" || r.RemoteAddr == "192.0.2.1:1234" {
		r.RemoteAddr = "127.0.0.1:40000"
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	return rec.Result()
}

type reqOpt func(*http.Request)

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }
func withCookie(c *http.Cookie) reqOpt {
	return func(r *http.Request) {
		if c != nil {
			r.AddCookie(c)
		}
	}
}
func fromPeer(addr string) reqOpt { return func(r *http.Request) { r.RemoteAddr = addr } }

// forwardAuth asks the forward-auth endpoint; an empty method means GET,
// an empty uri "/", and an empty proto or host leaves that header out.
func (e *env) forwardAuth(method, proto, host, uri string, opts ...reqOpt) *http.Response {
	r := httptest.NewRequest("GET", "/api/authz/forward-auth", nil)
	r.Header.Set("X-Forwarded-Method", cmp.Or(method, "GET"))
	if proto != "" {
		r.Header.Set("X-Forwarded-Proto", proto)
	}
	if host != "" {
		r.Header.Set("X-Forwarded-Host", host)
	}
	r.Header.Set("X-Forwarded-Uri", cmp.Or(uri, "/"))
	for _, o := range opts {
		o(r)
	}
	return e.do(r)
}

// authRequest asks the auth-request endpoint; an empty method means GET,
// and an empty originalURL leaves that header out.
func (e *env) authRequest(originalURL, method string, opts ...reqOpt) *http.Response {
	r := httptest.NewRequest("GET", "/api/authz/auth-request", nil)
	if originalURL != "" {
		r.Header.Set("X-Original-URL", originalURL)
	}
	r.Header.Set("X-Original-Method", cmp.Or(method, "GET"))
	for _, o := range opts {
		o(r)
	}
	return e.do(r)
}

// login posts the portal form and returns the response and its session cookie.
func (e *env) login(user, pass, rd string, opts ...reqOpt) (*http.Response, *http.Cookie) {
	e.t.Helper()
	form := url.Values{"username": {user}, "password": {pass}}
	if rd != "" {
		form.Set("rd", rd)
	}
	r := httptest.NewRequest("POST", "/api/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, o := range opts {
		o(r)
	}
	resp := e.do(r)
	return resp, sessionCookie(resp)
}

func (e *env) mustLogin(user, pass string) *http.Cookie {
	e.t.Helper()
	resp, c := e.login(user, pass, "")
	if resp.StatusCode != http.StatusFound || c == nil {
		e.t.Fatalf("login %s: status %d, cookie %v", user, resp.StatusCode, c)
	}
	return c
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "gate_session" && c.MaxAge >= 0 && c.Value != "" {
			return c
		}
	}
	return nil
}

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantStatus(t testing.TB, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("status = %d; want %d (body %q)", resp.StatusCode, want, body(t, resp))
	}
}

func wantIdentity(t testing.TB, resp *http.Response, user, groups, email, name string) {
	t.Helper()
	for k, want := range map[string]string{"Remote-User": user, "Remote-Groups": groups, "Remote-Email": email, "Remote-Name": name} {
		v, ok := resp.Header[k]
		if !ok {
			t.Errorf("%s header missing; want %q", k, want)
			continue
		}
		if len(v) != 1 || v[0] != want {
			t.Errorf("%s = %q; want %q", k, v, want)
		}
	}
}

func wantNoIdentity(t testing.TB, resp *http.Response) {
	t.Helper()
	for _, k := range []string{"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name"} {
		if _, ok := resp.Header[k]; ok {
			t.Errorf("%s present on a %d answer", k, resp.StatusCode)
		}
	}
}

func portalLocation(original string) string {
	return portalURL + "/?rd=" + url.QueryEscape(original)
}

func TestForwardAuthDecisions(t *testing.T) {
	e := newEnv(t, envOpts{})
	alice := e.mustLogin("alice", alicePass)
	bob := e.mustLogin("bob", "bob-password")

	tests := []struct {
		name     string
		method   string
		host     string
		uri      string
		opts     []reqOpt
		want     int
		location string
		identity string // user expected in Remote-User on 200; "-" for anonymous
	}{
		{name: "anonymous_get_redirects", host: "app.example.com", uri: "/dash?x=1", want: 302, location: portalLocation("https://app.example.com/dash?x=1")},
		{name: "anonymous_head_redirects", method: "HEAD", host: "app.example.com", uri: "/", want: 302, location: portalLocation("https://app.example.com/")},
		{name: "anonymous_post_303", method: "POST", host: "app.example.com", uri: "/submit", want: 303, location: portalLocation("https://app.example.com/submit")},
		{name: "anonymous_xhr_401", host: "app.example.com", uri: "/", opts: []reqOpt{withHeader("X-Requested-With", "XMLHttpRequest")}, want: 401, location: portalLocation("https://app.example.com/")},
		{name: "anonymous_json_401", host: "app.example.com", uri: "/", opts: []reqOpt{withHeader("Accept", "application/json")}, want: 401, location: portalLocation("https://app.example.com/")},
		{name: "anonymous_html_and_json_redirects", host: "app.example.com", uri: "/", opts: []reqOpt{withHeader("Accept", "text/html,application/json")}, want: 302, location: portalLocation("https://app.example.com/")},
		{name: "percent_encoded_path_kept", host: "app.example.com", uri: "/a%20b/%2F?q=%26", want: 302, location: portalLocation("https://app.example.com/a%20b/%2F?q=%26")},
		{name: "authenticated_allowed", host: "app.example.com", uri: "/", opts: []reqOpt{withCookie(alice)}, want: 200, identity: "alice"},
		{name: "bypass_anonymous_empty_identity", host: "public.example.com", uri: "/", want: 200, identity: "-"},
		{name: "bypass_with_session_has_identity", host: "public.example.com", uri: "/", opts: []reqOpt{withCookie(alice)}, want: 200, identity: "alice"},
		{name: "subject_match", host: "app.example.com", uri: "/admin", opts: []reqOpt{withCookie(alice)}, want: 200, identity: "alice"},
		{name: "subject_mismatch_falls_through_to_next_rule", host: "app.example.com", uri: "/admin/x", opts: []reqOpt{withCookie(bob)}, want: 200, identity: "bob"},
		{name: "subject_anonymous_login", host: "app.example.com", uri: "/admin", want: 302, location: portalLocation("https://app.example.com/admin")},
		{name: "deny_rule_authenticated", host: "app.example.com", uri: "/blocked", opts: []reqOpt{withCookie(alice)}, want: 403},
		{name: "deny_rule_anonymous", host: "app.example.com", uri: "/blocked", want: 403},
		{name: "dot_segments_normalized", host: "app.example.com", uri: "/public/../blocked", opts: []reqOpt{withCookie(alice)}, want: 403},
		{name: "encoded_dot_segments_normalized", host: "app.example.com", uri: "/public/%2e%2e/blocked", opts: []reqOpt{withCookie(alice)}, want: 403},
		{name: "double_slash_normalized", host: "app.example.com", uri: "//blocked", opts: []reqOpt{withCookie(alice)}, want: 403},
		{name: "default_deny_outside_rules", host: "example.com", uri: "/", opts: []reqOpt{withCookie(alice)}, want: 403},
		{name: "outside_domain_forbidden", host: "evil.test", uri: "/", opts: []reqOpt{withCookie(alice)}, want: 403},
		{name: "outside_domain_bypass_allowed", host: "outside.test", uri: "/", want: 200, identity: "-"},
		{name: "query_string_of_auth_request_ignored", host: "app.example.com", uri: "/blocked", opts: []reqOpt{withCookie(alice), func(r *http.Request) { r.URL.RawQuery = "x=1"; r.RequestURI += "?x=1" }}, want: 403},
		{name: "x_original_url_ignored", host: "public.example.com", uri: "/", opts: []reqOpt{withHeader("X-Original-URL", "https://app.example.com/blocked")}, want: 200, identity: "-"},
		{name: "missing_host_400", host: "", uri: "/", want: 400},
		{name: "untrusted_peer_403", host: "public.example.com", uri: "/", opts: []reqOpt{fromPeer("203.0.113.9:5555")}, want: 403},
		{name: "tampered_cookie_is_anonymous", host: "app.example.com", uri: "/", opts: []reqOpt{withCookie(&http.Cookie{Name: "gate_session", Value: alice.Value[:len(alice.Value)-4] + "AAAA"})}, want: 302, location: portalLocation("https://app.example.com/")},
		{name: "garbage_cookie_is_anonymous", host: "app.example.com", uri: "/", opts: []reqOpt{withCookie(&http.Cookie{Name: "gate_session", Value: "garbage"})}, want: 302, location: portalLocation("https://app.example.com/")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proto := "https"
			resp := e.forwardAuth(tt.method, proto, tt.host, tt.uri, tt.opts...)
			wantStatus(t, resp, tt.want)
			if tt.location != "" {
				if got := resp.Header.Get("Location"); got != tt.location {
					t.Errorf("Location = %q; want %q", got, tt.location)
				}
			}
			switch {
			case tt.want != 200:
				wantNoIdentity(t, resp)
			case tt.identity == "-":
				wantIdentity(t, resp, "", "", "", "")
			case tt.identity == "alice":
				wantIdentity(t, resp, "alice", "admins,dev", "alice@example.com", "Alice Smith")
			case tt.identity == "bob":
				wantIdentity(t, resp, "bob", "dev", "bob@example.com", "Bob")
			}
		})
	}
	t.Run("missing_proto_400", func(t *testing.T) {
		wantStatus(t, e.forwardAuth("", "", "app.example.com", "/"), 400)
	})
}

// A forwarding header missing or sent twice is a 400 that names it, never a
// default: without X-Forwarded-Method a DELETE was judged as a GET, and with
// two X-Forwarded-Uri the first (a client's own) decided.
func TestForwardingHeadersRequiredOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	alice := e.mustLogin("alice", alicePass)
	without := func(name string) reqOpt { return func(r *http.Request) { r.Header.Del(name) } }
	again := func(name, v string) reqOpt { return func(r *http.Request) { r.Header.Add(name, v) } }
	tests := []struct {
		name string
		resp func() *http.Response
		want string
	}{
		{"fa_no_method", func() *http.Response {
			return e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice), without("X-Forwarded-Method"))
		}, "missing X-Forwarded-Method"},
		{"fa_no_uri", func() *http.Response {
			return e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice), without("X-Forwarded-Uri"))
		}, "missing X-Forwarded-Uri"},
		{"fa_uri_twice", func() *http.Response {
			return e.forwardAuth("GET", "https", "app.example.com", "/public", again("X-Forwarded-Uri", "/admin"))
		}, "X-Forwarded-Uri sent more than once"},
		{"fa_host_twice", func() *http.Response {
			return e.forwardAuth("GET", "https", "public.example.com", "/", again("X-Forwarded-Host", "app.example.com"))
		}, "X-Forwarded-Host sent more than once"},
		{"ar_no_method", func() *http.Response {
			return e.authRequest("https://app.example.com/", "GET", withCookie(alice), without("X-Original-Method"))
		}, "missing X-Original-Method"},
		{"ar_url_twice", func() *http.Response {
			return e.authRequest("https://public.example.com/", "GET", again("X-Original-URL", "https://app.example.com/"))
		}, "X-Original-Url sent more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.resp()
			body := body(t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %q; want 400 naming %q", resp.StatusCode, body, tt.want)
			}
			wantNoIdentity(t, resp)
		})
	}
}

// Routes match the path as sent: an encoded spelling of an authz path is
// not that endpoint, so a proxy that blocks /api/authz/ on the portal host
// (comparing the raw path) cannot be walked around.
func TestEncodedRoutesAreNotEndpoints(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, path := range []string{
		"/api/authz%2fforward-auth", "/api/authz%2Fauth-request", "/api%2fauthz/forward-auth",
		"/api/%61uthz/forward-auth", "/api/authz/forward%2Dauth", "/api%2Flogin", "/api/authz/./forward-auth",
	} {
		r := httptest.NewRequest("GET", path, nil)
		r.Header = fa("GET", "https", "public.example.com", "/")
		resp := e.do(r)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status = %d; want 404", path, resp.StatusCode)
		}
	}
}

// fa is a complete forward-auth header set.
func fa(method, proto, host, uri string) http.Header {
	return http.Header{"X-Forwarded-Method": {method}, "X-Forwarded-Proto": {proto},
		"X-Forwarded-Host": {host}, "X-Forwarded-Uri": {uri}}
}

func TestAuthRequestDecisions(t *testing.T) {
	e := newEnv(t, envOpts{})
	alice := e.mustLogin("alice", alicePass)
	tests := []struct {
		name     string
		url      string
		method   string
		opts     []reqOpt
		want     int
		location string
	}{
		{name: "anonymous_401_with_location", url: "https://app.example.com/dash?x=1", want: 401, location: portalLocation("https://app.example.com/dash?x=1")},
		{name: "anonymous_post_still_401", url: "https://app.example.com/submit", method: "POST", want: 401, location: portalLocation("https://app.example.com/submit")},
		{name: "authenticated_200", url: "https://app.example.com/", opts: []reqOpt{withCookie(alice)}, want: 200},
		{name: "deny_403", url: "https://app.example.com/blocked", opts: []reqOpt{withCookie(alice)}, want: 403},
		{name: "normalized_403", url: "https://app.example.com/public/%2e%2e/blocked", opts: []reqOpt{withCookie(alice)}, want: 403},
		{name: "x_forwarded_ignored", url: "https://public.example.com/", opts: []reqOpt{withHeader("X-Forwarded-Host", "app.example.com"), withHeader("X-Forwarded-Uri", "/blocked"), withHeader("X-Forwarded-Proto", "https")}, want: 200},
		{name: "missing_url_400", url: "", want: 400},
		{name: "relative_url_400", url: "/admin", want: 400},
		{name: "untrusted_peer_403", url: "https://public.example.com/", opts: []reqOpt{fromPeer("198.51.100.1:1")}, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.authRequest(tt.url, tt.method, tt.opts...)
			wantStatus(t, resp, tt.want)
			if tt.location != "" {
				if got := resp.Header.Get("Location"); got != tt.location {
					t.Errorf("Location = %q; want %q", got, tt.location)
				}
			}
			if tt.want == 200 {
				if tt.opts == nil || resp.Header.Get("Remote-User") == "" {
					// anonymous bypass: present and empty
					if _, ok := resp.Header["Remote-User"]; !ok {
						t.Error("Remote-User missing on 200")
					}
				}
			} else {
				wantNoIdentity(t, resp)
			}
		})
	}
}

func TestStoreErrorFailsClosed(t *testing.T) {
	e := newEnv(t, envOpts{})
	alice := e.mustLogin("alice", alicePass)
	e.failing.get = func() error { return errors.New("connection refused") }
	e.failing.ping = func() error { return errors.New("connection refused") }
	for _, host := range []string{"app.example.com", "public.example.com"} {
		resp := e.forwardAuth("GET", "https", host, "/", withCookie(alice))
		wantStatus(t, resp, 503)
		wantNoIdentity(t, resp)
	}
	wantStatus(t, e.authRequest("https://app.example.com/", "", withCookie(alice)), 503)
	wantStatus(t, e.do(httptest.NewRequest("GET", "/readyz", nil)), 503)
	wantStatus(t, e.do(httptest.NewRequest("GET", "/healthz", nil)), 200)
	r := httptest.NewRequest("GET", "/api/session", nil)
	r.AddCookie(alice)
	wantStatus(t, e.do(r), 503)
}

func TestFullFlow(t *testing.T) {
	e := newEnv(t, envOpts{})
	original := "https://app.example.com/dash/%E2%9C%93?x=1&y=two"
	resp := e.forwardAuth("GET", "https", "app.example.com", "/dash/%E2%9C%93?x=1&y=two")
	wantStatus(t, resp, 302)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	rd := loc.Query().Get("rd")
	if rd != original {
		t.Fatalf("rd = %q; want %q", rd, original)
	}

	// The portal page carries rd in its form.
	page := e.do(httptest.NewRequest("GET", loc.RequestURI(), nil))
	wantStatus(t, page, 200)
	if b := body(t, page); !strings.Contains(b, `name="rd" value="`+strings.ReplaceAll(original, "&", "&amp;")+`"`) {
		t.Fatalf("portal form does not carry rd: %s", b)
	}

	resp, c := e.login("alice", alicePass, rd)
	wantStatus(t, resp, 302)
	if got := resp.Header.Get("Location"); got != original {
		t.Errorf("login Location = %q; want %q", got, original)
	}
	if c == nil {
		t.Fatal("no session cookie set")
	}
	for _, check := range []struct {
		name string
		ok   bool
	}{
		{"HttpOnly", c.HttpOnly}, {"Secure", c.Secure}, {"SameSite=Lax", c.SameSite == http.SameSiteLaxMode},
		{"Domain=example.com", c.Domain == "example.com"}, {"Path=/", c.Path == "/"}, {"no Max-Age", c.MaxAge == 0},
	} {
		if !check.ok {
			t.Errorf("cookie attribute %s not set: %+v", check.name, c)
		}
	}
	if strings.Contains(c.Value, "alice") {
		t.Error("cookie value carries the username")
	}

	resp = e.forwardAuth("GET", "https", "app.example.com", "/dash/%E2%9C%93?x=1&y=two", withCookie(c))
	wantStatus(t, resp, 200)
	wantIdentity(t, resp, "alice", "admins,dev", "alice@example.com", "Alice Smith")

	// Logout ends access.
	r := httptest.NewRequest("POST", "/api/logout?rd="+url.QueryEscape("https://app.example.com/bye"), nil)
	r.AddCookie(c)
	resp = e.do(r)
	wantStatus(t, resp, 302)
	if got := resp.Header.Get("Location"); got != "https://app.example.com/bye" {
		t.Errorf("logout Location = %q", got)
	}
	if !clearsCookie(resp) {
		t.Error("logout does not clear the cookie")
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 302)
}

func clearsCookie(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == "gate_session" && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

func TestLoginRedirectTargets(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, rd := range []string{"//evil.com", "https://evil.com/", "https://example.com.evil.com/", "https:\\\\evil.com", "https://u:p@app.example.com/", "javascript:alert(1)", "http://app.example.com/"} {
		t.Run(rd, func(t *testing.T) {
			resp, _ := e.login("alice", alicePass, rd)
			wantStatus(t, resp, 302)
			if got := resp.Header.Get("Location"); got != "https://www.example.com/" {
				t.Errorf("Location = %q; want the default redirect", got)
			}
		})
	}
}

func TestLoginJSON(t *testing.T) {
	e := newEnv(t, envOpts{})
	post := func(payload string) *http.Response {
		r := httptest.NewRequest("POST", "/api/login", strings.NewReader(payload))
		r.Header.Set("Content-Type", "application/json")
		return e.do(r)
	}
	resp := post(`{"username":"alice","password":"` + alicePass + `","remember_me":true,"rd":"https://app.example.com/x"}`)
	wantStatus(t, resp, 200)
	var ok struct{ User, Redirect string }
	if err := json.NewDecoder(resp.Body).Decode(&ok); err != nil {
		t.Fatal(err)
	}
	if ok.User != "alice" || ok.Redirect != "https://app.example.com/x" {
		t.Errorf("body = %+v", ok)
	}
	c := sessionCookie(resp)
	if c == nil || c.MaxAge != int((30*24*time.Hour)/time.Second) {
		t.Errorf("remember-me cookie = %+v; want Max-Age of 30 days", c)
	}

	resp = post(`{"username":"alice","password":"wrong"}`)
	wantStatus(t, resp, 401)
	if b := strings.TrimSpace(body(t, resp)); b != `{"error":"invalid credentials"}` {
		t.Errorf("body = %s", b)
	}
	wantStatus(t, post(`{"username":`), 400)
	wantStatus(t, post(`{"username":"alice","password":"x"} trailing`), 400)
}

func TestLoginFailureIsGeneric(t *testing.T) {
	e := newEnv(t, envOpts{maxRetries: 100})
	var bodies []string
	for _, creds := range [][2]string{{"alice", "wrong"}, {"nobody", "wrong"}, {"carol", "carol-password"}} {
		resp, c := e.login(creds[0], creds[1], "")
		wantStatus(t, resp, 401)
		if c != nil {
			t.Errorf("%s: a cookie was set on failure", creds[0])
		}
		b := body(t, resp)
		b = strings.ReplaceAll(b, `value="`+creds[0]+`"`, "")
		bodies = append(bodies, b)
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Error("failure pages differ between wrong password, unknown user and disabled user")
	}
}

func TestRegulation(t *testing.T) {
	e := newEnv(t, envOpts{maxRetries: 3})
	for i := 1; i <= 3; i++ {
		resp, _ := e.login("alice", "wrong", "")
		wantStatus(t, resp, 401)
	}
	resp, _ := e.login("alice", alicePass, "")
	wantStatus(t, resp, 429)
	if ra := resp.Header.Get("Retry-After"); ra != "300" {
		t.Errorf("Retry-After = %q; want 300", ra)
	}
	// Attempts during the ban do not extend it.
	e.clock.Advance(4 * time.Minute)
	resp, _ = e.login("alice", alicePass, "")
	wantStatus(t, resp, 429)
	e.clock.Advance(61 * time.Second)
	resp, c := e.login("alice", alicePass, "")
	wantStatus(t, resp, 302)
	if c == nil {
		t.Fatal("no cookie after the ban ended")
	}

	t.Run("client_address_ban", func(t *testing.T) {
		e := newEnv(t, envOpts{maxRetries: 2})
		xff := withHeader("X-Forwarded-For", "203.0.113.50")
		for _, u := range []string{"x1", "x2"} {
			resp, _ := e.login(u, "wrong", "", xff)
			wantStatus(t, resp, 401)
		}
		resp, _ := e.login("alice", alicePass, "", xff)
		wantStatus(t, resp, 429)
		// Another client is not banned.
		resp, _ = e.login("alice", alicePass, "", withHeader("X-Forwarded-For", "203.0.113.51"))
		wantStatus(t, resp, 302)
	})
}

func TestLoginRotatesSession(t *testing.T) {
	e := newEnv(t, envOpts{})
	planted := e.mustLogin("bob", "bob-password")
	resp, c := e.login("alice", alicePass, "", withCookie(planted))
	wantStatus(t, resp, 302)
	if c == nil || c.Value == planted.Value {
		t.Fatal("login kept the presented cookie")
	}
	// The planted session is gone, the new one is alice's.
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(planted)), 302)
	resp = e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c))
	wantStatus(t, resp, 200)
	if got := resp.Header.Get("Remote-User"); got != "alice" {
		t.Errorf("Remote-User = %q", got)
	}
}

func TestLogoutAll(t *testing.T) {
	e := newEnv(t, envOpts{})
	a1 := e.mustLogin("alice", alicePass)
	a2 := e.mustLogin("alice", alicePass)
	b := e.mustLogin("bob", "bob-password")
	r := httptest.NewRequest("POST", "/api/logout?all=true", nil)
	r.Header.Set("Accept", "application/json")
	r.AddCookie(a1)
	resp := e.do(r)
	wantStatus(t, resp, 200)
	if got := strings.TrimSpace(body(t, resp)); got != `{"status":"signed out"}` {
		t.Errorf("body = %s", got)
	}
	for _, c := range []*http.Cookie{a1, a2} {
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 302)
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(b)), 200)

	t.Run("without_session", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/api/logout", nil)
		resp := e.do(r)
		wantStatus(t, resp, 200)
		if !clearsCookie(resp) {
			t.Error("cookie not cleared")
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type = %q; want the portal page", ct)
		}
	})
}

func TestSessionEndpoint(t *testing.T) {
	e := newEnv(t, envOpts{inactivity: 5 * time.Minute})
	c := e.mustLogin("alice", alicePass)
	r := httptest.NewRequest("GET", "/api/session", nil)
	r.AddCookie(c)
	resp := e.do(r)
	wantStatus(t, resp, 200)
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"user": "alice", "name": "Alice Smith", "email": "alice@example.com",
		"groups": []any{"admins", "dev"}, "remember_me": false,
		"expires_at": e.clock.Now().Add(5 * time.Minute).UTC().Format(time.RFC3339),
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v; want %v", k, got[k], v)
		}
	}
	wantStatus(t, e.do(httptest.NewRequest("GET", "/api/session", nil)), 401)
}

func TestInactivityAndTouch(t *testing.T) {
	e := newEnv(t, envOpts{inactivity: 4 * time.Minute})
	c := e.mustLogin("alice", alicePass)
	// Used every minute for longer than the inactivity window: stays alive.
	for i := 0; i < 10; i++ {
		e.clock.Advance(time.Minute)
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 200)
	}
	// Idle for the whole window: ends.
	e.clock.Advance(4*time.Minute + time.Second)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 302)
}

func TestRememberMeIgnoresInactivity(t *testing.T) {
	e := newEnv(t, envOpts{inactivity: time.Minute})
	form := url.Values{"username": {"alice"}, "password": {alicePass}, "remember_me": {"on"}}
	r := httptest.NewRequest("POST", "/api/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := e.do(r)
	wantStatus(t, resp, 302)
	c := sessionCookie(resp)
	e.clock.Advance(10 * time.Minute)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 200)
	e.clock.Advance(30 * 24 * time.Hour)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 302)
}

// reloadUsers writes content as the users file, reloads it, and waits until
// the revocations it caused are done.
func (e *env) reloadUsers(content string) {
	e.t.Helper()
	e.writeUsers(content)
	if err := e.users.Reload(); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-e.revoker.Idle():
	case <-time.After(10 * time.Second):
		e.t.Fatal("revocations not done after 10s")
	}
}

// userEntry is one user of a users file.
func userEntry(name, hash, groups string, disabled bool) string {
	return fmt.Sprintf("  %s:\n    password: '%s'\n    groups: [%s]\n    disabled: %v\n", name, hash, groups, disabled)
}

// Revocation through the users file is final (SPEC 3.1): a new password
// hash, a disabled user and a removed user end the user's sessions for good;
// putting the old entry back, or re-adding the name for someone else, does
// not bring them back. Group changes apply to live sessions at once.
func TestRevocationIsFinal(t *testing.T) {
	aliceHash, bobHash := cheapHash(t, alicePass), cheapHash(t, "bob-password")
	file := func(alice, bob string) string { return "users:\n" + alice + bob }
	aliceOK := userEntry("alice", aliceHash, "admins, dev", false)
	bobOK := userEntry("bob", bobHash, "dev", false)

	tests := []struct {
		name string
		// change is the users file that revokes bob; restore the one after.
		change, restore string
	}{
		{"password_changed_back", file(aliceOK, userEntry("bob", cheapHash(t, "new"), "dev", false)), file(aliceOK, bobOK)},
		{"disabled_then_enabled", file(aliceOK, userEntry("bob", bobHash, "dev", true)), file(aliceOK, bobOK)},
		{"removed_then_readded", file(aliceOK, ""), file(aliceOK, bobOK)},
		{"readded_as_someone_else", file(aliceOK, ""), file(aliceOK, userEntry("bob", bobHash, "admins", false))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			e.reloadUsers(file(aliceOK, bobOK))
			bob := e.mustLogin("bob", "bob-password")
			alice := e.mustLogin("alice", alicePass)
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob)), 200)

			e.reloadUsers(tt.change)
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob)), 302)
			e.reloadUsers(tt.restore)
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob)), 302)
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/admin", withCookie(bob)), 302)
			// Only bob was revoked.
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice)), 200)
			// The restored entry can log in afresh.
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(e.mustLogin("bob", "bob-password"))), 200)
		})
	}

	// A session of a user whose hash changed is refused even before the
	// store has deleted it (another instance logged it in with the old
	// password after this one reloaded): the stamps differ.
	t.Run("stale_stamp_refused_without_deletion", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		e.users.OnRevoke(nil)
		bob := e.mustLogin("bob", "bob-password")
		e.reloadUsers(file(aliceOK, userEntry("bob", cheapHash(t, "new"), "dev", false)))
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob)), 302)
	})

	t.Run("group_change_applies_at_once", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		e.reloadUsers(file(aliceOK, bobOK))
		bob := e.mustLogin("bob", "bob-password")
		e.reloadUsers(file(aliceOK, userEntry("bob", bobHash, "dev, admins", false)))
		resp := e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob))
		wantStatus(t, resp, 200)
		if got := resp.Header.Get("Remote-Groups"); got != "dev,admins" {
			t.Errorf("Remote-Groups = %q; want dev,admins", got)
		}
	})
}

func TestDisabledOrRemovedUserLosesAccess(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.mustLogin("bob", "bob-password")
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 200)
	e.writeUsers("users:\n  bob:\n    password: '" + cheapHash(t, "x") + "'\n    disabled: true\n")
	if err := e.users.Reload(); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 302)
	e.writeUsers("users:\n  alice:\n    password: '" + cheapHash(t, "x") + "'\n")
	if err := e.users.Reload(); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)), 302)
}

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	form := url.Values{"username": {"alice"}, "password": {alicePass}}
	for _, path := range []string{"/api/login", "/api/logout"} {
		r := httptest.NewRequest("POST", "https://auth.example.com"+path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "https://evil.com")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		wantStatus(t, e.do(r), 403)
	}
	// Same-origin browser posts pass.
	r := httptest.NewRequest("POST", "https://auth.example.com/api/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Origin", "https://auth.example.com")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	wantStatus(t, e.do(r), 302)
}

func TestPortalHeaders(t *testing.T) {
	e := newEnv(t, envOpts{})
	resp := e.do(httptest.NewRequest("GET", "/?rd="+url.QueryEscape("https://app.example.com/x"), nil))
	wantStatus(t, resp, 200)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "img-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self' https://app.example.com https://www.example.com"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe", "*", "script-src"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q contains %q", csp, bad)
		}
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	b := body(t, resp)
	for _, want := range []string{`<label for="username">`, `<label for="password">`, `name="remember_me"`, `action="/api/login"`, `<meta name="viewport"`} {
		if !strings.Contains(b, want) {
			t.Errorf("portal page lacks %s", want)
		}
	}
	if strings.Contains(b, "<script") {
		t.Error("portal page has a script")
	}
	// A hostile rd is neither reflected nor admitted to the CSP.
	resp = e.do(httptest.NewRequest("GET", "/?rd="+url.QueryEscape(`https://evil.com/"><b>x`), nil))
	if b := body(t, resp); strings.Contains(b, "evil.com") {
		t.Error("hostile rd reflected into the page")
	}
	if strings.Contains(resp.Header.Get("Content-Security-Policy"), "evil.com") {
		t.Error("hostile rd admitted to the CSP")
	}
	css := e.do(httptest.NewRequest("GET", "/static/style.css", nil))
	wantStatus(t, css, 200)
	wantStatus(t, e.do(httptest.NewRequest("GET", "/static/", nil)), 404)
	wantStatus(t, e.do(httptest.NewRequest("GET", "/static/../web.go", nil)), 404)
}

func TestPortalSignedIn(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.mustLogin("alice", alicePass)
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	resp := e.do(r)
	wantStatus(t, resp, 200)
	if b := body(t, resp); !strings.Contains(b, "alice") || !strings.Contains(b, `action="/api/logout"`) {
		t.Error("signed-in view lacks the user or the logout button")
	}
	r = httptest.NewRequest("GET", "/?rd="+url.QueryEscape("https://app.example.com/y"), nil)
	r.AddCookie(c)
	resp = e.do(r)
	wantStatus(t, resp, 302)
	if got := resp.Header.Get("Location"); got != "https://app.example.com/y" {
		t.Errorf("Location = %q", got)
	}
}

func TestAnonymousRequestsCreateNoState(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i := 0; i < 200; i++ {
		e.forwardAuth("GET", "https", "app.example.com", fmt.Sprintf("/%d", i))
		e.authRequest(fmt.Sprintf("https://app.example.com/%d", i), "")
		e.do(httptest.NewRequest("GET", "/", nil))
		e.do(httptest.NewRequest("GET", "/api/session", nil))
		e.do(httptest.NewRequest("GET", "/readyz", nil))
	}
	if n := e.store.Len(); n != 0 {
		t.Errorf("store holds %d sessions after anonymous requests", n)
	}
}

func TestBadInputNever500(t *testing.T) {
	e := newEnv(t, envOpts{})
	cases := []*http.Request{
		httptest.NewRequest("POST", "/api/login", strings.NewReader("%%%")),
		httptest.NewRequest("POST", "/api/login", strings.NewReader(strings.Repeat("a", 100<<10))),
		httptest.NewRequest("GET", "/api/login", nil),
		httptest.NewRequest("GET", "/nope", nil),
	}
	cases[0].Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cases[1].Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, r := range cases {
		resp := e.do(r)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s %s: status %d; want 4xx", r.Method, r.URL, resp.StatusCode)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.forwardAuth("GET", "https", "app.example.com", "/")
	e.mustLogin("alice", alicePass)
	resp := e.do(httptest.NewRequest("GET", "/metrics", nil))
	wantStatus(t, resp, 200)
	b := body(t, resp)
	for _, want := range []string{`gate_authz_decisions_total{result="login"} 1`, `gate_logins_total{result="success"} 1`, "gate_authz_duration_seconds_bucket", "gate_active_sessions 1"} {
		if !strings.Contains(b, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestPortalUnderPath(t *testing.T) {
	e := newEnv(t, envOpts{portalURL: "https://example.com/auth"})
	resp := e.forwardAuth("GET", "https", "app.example.com", "/")
	wantStatus(t, resp, 302)
	if got, want := resp.Header.Get("Location"), "https://example.com/auth/?rd="+url.QueryEscape("https://app.example.com/"); got != want {
		t.Errorf("Location = %q; want %q", got, want)
	}
	page := e.do(httptest.NewRequest("GET", "/auth/", nil))
	wantStatus(t, page, 200)
	if b := body(t, page); !strings.Contains(b, `action="/auth/api/login"`) || !strings.Contains(b, `href="/auth/static/style.css"`) {
		t.Error("portal links do not carry the prefix")
	}
	wantStatus(t, e.do(httptest.NewRequest("GET", "/auth/static/style.css", nil)), 200)
}

func TestLogsHoldNoSecrets(t *testing.T) {
	// The recorder serves in this goroutine, so a plain builder will do.
	logs := &strings.Builder{}
	e := newEnv(t, envOpts{logs: logs})
	e.login("alice", "wrong-password-xyz", "")
	resp, c := e.login("alice", alicePass, "https://app.example.com/?token=query-secret")
	wantStatus(t, resp, 302)
	e.forwardAuth("GET", "https", "app.example.com", "/p?token=query-secret", withCookie(c))
	e.authRequest("https://app.example.com/p?token=query-secret", "", withCookie(c))
	r := httptest.NewRequest("POST", "/api/logout", nil)
	r.AddCookie(c)
	e.do(r)

	out := logs.String()
	if !strings.Contains(out, "authz decision") || !strings.Contains(out, "login succeeded") {
		t.Fatalf("expected decision and login lines in the log:\n%s", out)
	}
	for _, secret := range []string{alicePass, "wrong-password-xyz", c.Value, "query-secret", testSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret %q", secret)
		}
	}
	// Nor the session id the cookie carries.
	hk, bk := testKeys(t).CookieHash, testKeys(t).CookieBlock
	codec, err := cookie.New(cookie.Config{Name: "gate_session", HashKey: hk, BlockKey: bk, Domain: "example.com", Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	cr := httptest.NewRequest("GET", "/", nil)
	cr.AddCookie(c)
	id, err := codec.Read(cr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, id) {
		t.Error("log contains the session id")
	}
}

// logLines parses a JSON log.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestBothPathsLogAndRecover: authz requests skip the router (and every
// middleware added with r.Use), so request ids, access logs, panic
// recovery and store-error metrics are proven here for both paths alike.
func TestBothPathsLogAndRecover(t *testing.T) {
	paths := []struct {
		name string
		req  func(e *env, c *http.Cookie) *http.Response
		// level is the access log level of a normal answer.
		level string
		path  string
	}{
		{"authz", func(e *env, c *http.Cookie) *http.Response {
			return e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c))
		}, "debug", "/api/authz/forward-auth"},
		{"routed", func(e *env, c *http.Cookie) *http.Response {
			r := httptest.NewRequest("GET", "/api/session", nil)
			r.AddCookie(c)
			return e.do(r)
		}, "info", "/api/session"},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			logs := &strings.Builder{}
			e := newEnv(t, envOpts{logs: logs})
			_, c := e.login("alice", alicePass, "")

			logs.Reset()
			wantStatus(t, p.req(e, c), 200)
			lines := logLines(t, logs.String())
			last := lines[len(lines)-1]
			id, _ := last["request_id"].(string)
			if last["message"] != "request" || id == "" || last["status"] != 200.0 || last["path"] != p.path || last["level"] != p.level {
				t.Errorf("access log line %v; want status 200 for %s at %s with a request id", last, p.path, p.level)
			}
			for _, l := range lines {
				if l["request_id"] != id {
					t.Errorf("line %v is not under the request's id %q", l, id)
				}
			}

			logs.Reset()
			e.failing.get = func() error { return errors.New("store down") }
			wantStatus(t, p.req(e, c), 503)
			if got := metricValue(t, e, `gate_session_store_errors_total{op="get"}`); got != "1" {
				t.Errorf("store errors = %s; want 1", got)
			}

			logs.Reset()
			e.failing.get = func() error { panic("store exploded") }
			resp := p.req(e, c)
			wantStatus(t, resp, 500)
			if b := body(t, resp); b != "internal error\n" {
				t.Errorf("body %q; want a short reason", b)
			}
			lines = logLines(t, logs.String())
			if len(lines) != 2 || lines[0]["message"] != "handler panicked" || lines[0]["panic"] != "store exploded" ||
				lines[1]["status"] != 500.0 || lines[1]["level"] != "error" || lines[0]["request_id"] != lines[1]["request_id"] {
				t.Errorf("log lines after a panic: %v", lines)
			}
		})
	}
}

// metricValue returns the value of one sample on /metrics, "" if absent.
func metricValue(t *testing.T, e *env, sample string) string {
	t.Helper()
	for _, l := range strings.Split(body(t, e.do(httptest.NewRequest("GET", "/metrics", nil))), "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			return v
		}
	}
	return ""
}
