package http_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/access"
	"gate/internal/config"
	"gate/internal/cookie"
	gatehttp "gate/internal/http"
	"gate/internal/redisconn"
	"gate/internal/regulation"
	"gate/internal/session"
	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
	"gate/internal/users"
)

// Two cookie domains as in SPEC section 10: example.com with its portal at
// the root of auth.example.com, example.org with its portal under /gate
// and a cookie of its own name.
const (
	comPortal = "https://auth.example.com"
	orgPortal = "https://login.example.org/gate"
)

// newTwoDomainEnv serves both domains from one server and one store.
func newTwoDomainEnv(t testing.TB) *env {
	t.Helper()
	return newSitesEnv(t, []siteSpec{
		{name: "gate_session", domain: "example.com", portal: comPortal, defaultRD: "https://www.example.com/",
			expiration: time.Hour, inactivity: 5 * time.Minute, rememberMe: 24 * time.Hour},
		{name: "org_session", domain: "example.org", portal: orgPortal,
			expiration: 2 * time.Hour, inactivity: 10 * time.Minute, rememberMe: -time.Second},
	})
}

// siteSpec is one cookie domain of newSitesEnv.
type siteSpec struct {
	name, domain, portal, defaultRD    string
	expiration, inactivity, rememberMe time.Duration
}

// newSitesEnv serves the given cookie domains from one server and one
// memory store, with every host under them needing a login.
func newSitesEnv(t testing.TB, specs []siteSpec) *env {
	t.Helper()
	return newSitesEnvOn(t, specs, nil)
}

// newSitesEnvOn is newSitesEnv on the store open makes with the env's
// clock; nil is the memory store.
func newSitesEnvOn(t testing.TB, specs []siteSpec, open func(now func() time.Time) session.Store) *env {
	t.Helper()
	return newSitesEnvWith(t, specs, open, nil)
}

// newSitesEnvWith is newSitesEnvOn with OpenID Connect providers (not yet
// discovered).
func newSitesEnvWith(t testing.TB, specs []siteSpec, open func(now func() time.Time) session.Store, providers []config.OIDCProvider) *env {
	t.Helper()
	e := &env{t: t, clock: testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}
	e.usersPath = filepath.Join(t.TempDir(), "users.yml")
	e.writeUsers(testUsers(t))
	u, err := users.Open(e.usersPath, false, zerolog.Nop())
	if err != nil {
		t.Fatalf("users.Open: %v", err)
	}
	t.Cleanup(func() { _ = u.Close() })
	e.users = u
	rules, err := access.New(config.AccessControl{DefaultPolicy: "one_factor", Rules: []config.Rule{
		{Domain: config.StringList{"public.example.org"}, Policy: "bypass"},
	}}, domainsOf(specs)...)
	if err != nil {
		t.Fatalf("access.New: %v", err)
	}
	var store session.Store
	if open != nil {
		store = open(e.clock.Now)
	} else {
		e.store = session.NewMemory(session.MemoryOptions{Now: e.clock.Now})
		store = e.store
	}
	t.Cleanup(func() { _ = store.Close() })
	k := testKeys(t)
	codec := func(name, domain string) *cookie.Codec {
		c, err := cookie.New(cookie.Config{Name: name, HashKey: k.CookieHash, BlockKey: k.CookieBlock, Domain: domain, Secure: true})
		if err != nil {
			t.Fatalf("cookie.New: %v", err)
		}
		return c
	}
	reg, err := regulation.New(config.Regulation{MaxRetries: 3, FindTime: 2 * time.Minute, BanTime: 5 * time.Minute},
		regulation.NewMemoryCounters(regulation.MemoryOptions{Now: e.clock.Now}), k.Regulation)
	if err != nil {
		t.Fatalf("regulation.New: %v", err)
	}
	var sites []gatehttp.Site
	for _, sp := range specs {
		sites = append(sites, gatehttp.Site{Cookies: codec(sp.name, sp.domain), PortalURL: sp.portal, DefaultRedirectURL: sp.defaultRD,
			Domain: sp.domain, Expiration: sp.expiration, Inactivity: sp.inactivity, RememberMe: sp.rememberMe})
	}
	e.providers = newProviders(t, providers, nil, u)
	srv, err := gatehttp.New(gatehttp.Options{
		OIDC:           e.providers,
		Sessions:       store,
		Sites:          sites,
		Users:          u,
		Rules:          rules,
		Regulator:      reg,
		Logger:         zerolog.Nop(),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Now:            e.clock.Now,
	})
	if err != nil {
		t.Fatalf("http.New: %v", err)
	}
	e.h = srv
	return e
}

func domainsOf(specs []siteSpec) []string {
	out := make([]string, len(specs))
	for i, sp := range specs {
		out[i] = sp.domain
	}
	return out
}

// loginAt posts the login form to a portal URL and returns the answer and
// the cookie named name it sets.
func (e *env) loginAt(portal, name, user, pass, rd string) (*http.Response, *http.Cookie) {
	e.t.Helper()
	form := url.Values{"username": {user}, "password": {pass}, "rd": {rd}}
	r := httptest.NewRequest("POST", portal+"/api/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := e.do(r)
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" && c.MaxAge >= 0 {
			return resp, c
		}
	}
	return resp, nil
}

func TestTwoDomainsAuthzPicksTheEntry(t *testing.T) {
	e := newTwoDomainEnv(t)
	tests := []struct {
		name     string
		host     string
		wantCode int
		wantLoc  string
	}{
		{"com_goes_to_com_portal", "app.example.com", http.StatusFound, comPortal + "/?rd=" + url.QueryEscape("https://app.example.com/x")},
		{"org_goes_to_org_portal", "app.example.org", http.StatusFound, orgPortal + "/?rd=" + url.QueryEscape("https://app.example.org/x")},
		{"org_apex", "example.org", http.StatusFound, orgPortal + "/?rd=" + url.QueryEscape("https://example.org/x")},
		{"org_with_port", "app.example.org:8443", http.StatusFound, orgPortal + "/?rd=" + url.QueryEscape("https://app.example.org:8443/x")},
		{"neither", "app.example.net", http.StatusForbidden, ""},
		{"bypass_org", "public.example.org", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.forwardAuth("GET", "https", tt.host, "/x")
			wantStatus(t, resp, tt.wantCode)
			if got := resp.Header.Get("Location"); got != tt.wantLoc {
				t.Errorf("Location = %q; want %q", got, tt.wantLoc)
			}
		})
	}
}

func TestTwoDomainsLoginSetsItsOwnCookieOnly(t *testing.T) {
	e := newTwoDomainEnv(t)
	resp, com := e.loginAt(comPortal, "gate_session", "alice", alicePass, "https://app.example.org/x")
	wantStatus(t, resp, http.StatusFound)
	if com == nil || com.Domain != "example.com" {
		t.Fatalf("login on %s: cookie %v; want gate_session for example.com", comPortal, com)
	}
	// rd on the other domain is not this entry's: the default redirect.
	if got, want := resp.Header.Get("Location"), "https://www.example.com/"; got != want {
		t.Errorf("Location = %q; want %q", got, want)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "org_session" {
			t.Errorf("login on %s set org_session", comPortal)
		}
	}

	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(com)), http.StatusOK)
	// The browser sends example.com's cookie nowhere else, and gate reads
	// the example.org cookie by its own name: the org app asks to log in.
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(com)), http.StatusFound)
	lifted := &http.Cookie{Name: "org_session", Value: com.Value}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(lifted)), http.StatusFound)

	resp, org := e.loginAt(orgPortal, "org_session", "alice", alicePass, "https://app.example.org/x")
	wantStatus(t, resp, http.StatusFound)
	if org == nil || org.Domain != "example.org" {
		t.Fatalf("login on %s: cookie %v; want org_session for example.org", orgPortal, org)
	}
	if got, want := resp.Header.Get("Location"), "https://app.example.org/x"; got != want {
		t.Errorf("Location = %q; want %q", got, want)
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(org)), http.StatusOK)

	// Log out everywhere from example.org ends the example.com session too.
	r := httptest.NewRequest("POST", orgPortal+"/api/logout?all=true", nil)
	r.AddCookie(org)
	r.Header.Set("Accept", "application/json")
	wantStatus(t, e.do(r), http.StatusOK)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(com)), http.StatusFound)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(org)), http.StatusFound)
}

func TestTwoDomainsEntryLifetimes(t *testing.T) {
	e := newTwoDomainEnv(t)
	_, com := e.loginAt(comPortal, "gate_session", "alice", alicePass, "")
	_, org := e.loginAt(orgPortal, "org_session", "alice", alicePass, "")
	if com == nil || org == nil {
		t.Fatalf("logins: com %v, org %v", com, org)
	}
	// example.com ends after 5m idle, example.org after 10m.
	e.clock.Advance(7 * time.Minute)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(com)), http.StatusFound)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(org)), http.StatusOK)
}

func TestTwoDomainsPortalServedPerHost(t *testing.T) {
	e := newTwoDomainEnv(t)
	tests := []struct {
		name string
		url  string
		want int
	}{
		{"com_portal_root", comPortal + "/", http.StatusOK},
		{"org_portal_path", orgPortal + "/", http.StatusOK},
		{"org_portal_bare_prefix", orgPortal, http.StatusMovedPermanently},
		// example.org's portal lives under /gate: its root is not a portal.
		{"org_host_root", "https://login.example.org/", http.StatusNotFound},
		// example.com's portal is at the root: /gate there is no portal.
		{"com_host_gate_path", "https://auth.example.com/gate/", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, e.do(httptest.NewRequest("GET", tt.url, nil)), tt.want)
		})
	}
	// The org portal's page posts to its own path.
	if got := body(t, e.do(httptest.NewRequest("GET", orgPortal+"/", nil))); !strings.Contains(got, `action="/gate/api/login"`) {
		t.Errorf("org portal page does not post to /gate/api/login:\n%s", got)
	}
}

func TestAutheliaURLParameter(t *testing.T) {
	e := newTwoDomainEnv(t)
	ask := func(host, query string) *http.Response {
		r := httptest.NewRequest("GET", "/api/authz/forward-auth"+query, nil)
		r.Header.Set("X-Forwarded-Method", "GET")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", host)
		r.Header.Set("X-Forwarded-Uri", "/")
		return e.do(r)
	}
	askNginx := func(original, query string) *http.Response {
		r := httptest.NewRequest("GET", "/api/authz/auth-request"+query, nil)
		r.Header.Set("X-Original-URL", original)
		r.Header.Set("X-Original-Method", "GET")
		return e.do(r)
	}
	tests := []struct {
		name string
		resp *http.Response
		want int
	}{
		{"own_portal", ask("app.example.org", "?authelia_url="+url.QueryEscape(orgPortal)), http.StatusFound},
		{"own_portal_trailing_slash", ask("app.example.org", "?authelia_url="+url.QueryEscape(orgPortal+"/")), http.StatusFound},
		{"own_portal_nginx", askNginx("https://app.example.com/", "?authelia_url="+url.QueryEscape(comPortal)), http.StatusUnauthorized},
		{"other_entry_portal", ask("app.example.org", "?authelia_url="+url.QueryEscape(comPortal)), http.StatusBadRequest},
		{"other_entry_portal_nginx", askNginx("https://app.example.com/", "?authelia_url="+url.QueryEscape(orgPortal)), http.StatusBadRequest},
		{"unknown_portal", ask("app.example.com", "?authelia_url="+url.QueryEscape("https://evil.example.net")), http.StatusBadRequest},
		{"given_twice", ask("app.example.com", "?authelia_url="+url.QueryEscape(comPortal)+"&authelia_url="+url.QueryEscape(comPortal)), http.StatusBadRequest},
		{"empty", ask("app.example.com", "?authelia_url="), http.StatusBadRequest},
		{"host_under_no_entry", ask("app.example.net", "?authelia_url="+url.QueryEscape(comPortal)), http.StatusBadRequest},
		{"other_query_ignored", ask("app.example.com", "?page=2"), http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantStatus(t, tt.resp, tt.want) })
	}
}

// BenchmarkForwardAuthCookieDomains is the decision of BenchmarkForwardAuth
// with one cookie domain and with ten, the request's domain last in the
// list: picking the entry must cost next to nothing.
func BenchmarkForwardAuthCookieDomains(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("domains=%d", n), func(b *testing.B) {
			var specs []siteSpec
			for i := range n - 1 {
				d := fmt.Sprintf("example%d.net", i)
				specs = append(specs, siteSpec{name: "gate_session", domain: d, portal: "https://auth." + d,
					expiration: time.Hour, inactivity: 5 * time.Minute, rememberMe: time.Hour})
			}
			specs = append(specs, siteSpec{name: "gate_session", domain: "example.com", portal: comPortal,
				expiration: time.Hour, inactivity: 5 * time.Minute, rememberMe: time.Hour})
			e := newSitesEnv(b, specs)
			_, c := e.loginAt(comPortal, "gate_session", "alice", alicePass, "")
			if c == nil {
				b.Fatal("login: no cookie")
			}
			benchDecisionWith(b, e, c)
		})
	}
}

// Two entries with the same cookie name: every entry's cookie is sealed
// with the same keys, so without binding a session to its entry a cookie
// copied from example.com into example.org's cookie jar (a script on one
// domain, a shared cookie store, a user pasting it) would sign its holder
// in on example.org. The session records its entry and is "not
// authenticated" under any other: authz, the session endpoint, the portal
// and logout (which must not end the session it does not own).
func TestCookieCopiedAcrossDomainsRefused(t *testing.T) {
	stores := []struct {
		name string
		open func(now func() time.Time) session.Store
	}{
		{"memory", nil},
		{"redis", redisSessions(t)},
	}
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			e := newSitesEnvOn(t, []siteSpec{
				{name: "gate_session", domain: "example.com", portal: comPortal, expiration: time.Hour, inactivity: 5 * time.Minute},
				{name: "gate_session", domain: "example.org", portal: orgPortal, expiration: time.Hour, inactivity: 5 * time.Minute},
			}, sc.open)
			_, com := e.loginAt(comPortal, "gate_session", "alice", alicePass, "")
			if com == nil {
				t.Fatal("login on example.com: no cookie")
			}
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(com)), http.StatusOK)
			copied := &http.Cookie{Name: "gate_session", Value: com.Value}

			wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(copied)), http.StatusFound)
			wantStatus(t, e.authRequest("https://app.example.org/", "GET", withCookie(copied)), http.StatusUnauthorized)
			r := httptest.NewRequest("GET", orgPortal+"/api/session", nil)
			r.AddCookie(copied)
			wantStatus(t, e.do(r), http.StatusUnauthorized)
			r = httptest.NewRequest("GET", orgPortal+"/", nil)
			r.AddCookie(copied)
			if got := body(t, e.do(r)); strings.Contains(got, "alice") {
				t.Errorf("org portal with the copied cookie shows alice signed in:\n%s", got)
			}
			for _, q := range []string{"", "?all=true"} {
				r = httptest.NewRequest("POST", orgPortal+"/api/logout"+q, nil)
				r.AddCookie(copied)
				r.Header.Set("Accept", "application/json")
				wantStatus(t, e.do(r), http.StatusOK)
			}
			// Neither logout on example.org ended example.com's session.
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(com)), http.StatusOK)
		})
	}
}

// redisSessions opens the Redis store on a fresh redis-server, as
// newSitesEnvOn wants it.
func redisSessions(t *testing.T) func(now func() time.Time) session.Store {
	return func(now func() time.Time) session.Store {
		cfg := redisConfig(redistest.StartServer(t, redistest.ServerOptions{}))
		client, plan, err := redisconn.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		store, err := session.NewRedis(client, session.RedisOptions{RecordKey: testKeys(t).RecordCipher, NameKey: testKeys(t).KeyHash,
			Prefix: cfg.SessionPrefix, Name: plan.String(), PoolSize: plan.PoolSize, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return store
	}
}

// On Redis as in memory, signing out everywhere on one domain ends the
// user's sessions on every domain: one store holds them all (SPEC section
// 10), and the per-user index spans the domains.
func TestTwoDomainsLogoutEverywhereRedis(t *testing.T) {
	e := newSitesEnvOn(t, []siteSpec{
		{name: "gate_session", domain: "example.com", portal: comPortal, expiration: time.Hour, inactivity: 5 * time.Minute},
		{name: "org_session", domain: "example.org", portal: orgPortal, expiration: time.Hour, inactivity: 5 * time.Minute},
	}, redisSessions(t))
	_, com := e.loginAt(comPortal, "gate_session", "alice", alicePass, "")
	_, org := e.loginAt(orgPortal, "org_session", "alice", alicePass, "")
	_, bob := e.loginAt(comPortal, "gate_session", "bob", "bob-password", "")
	if com == nil || org == nil || bob == nil {
		t.Fatalf("logins: com %v, org %v, bob %v", com, org, bob)
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(com)), http.StatusOK)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(org)), http.StatusOK)

	r := httptest.NewRequest("POST", comPortal+"/api/logout?all=true", nil)
	r.AddCookie(com)
	r.Header.Set("Accept", "application/json")
	wantStatus(t, e.do(r), http.StatusOK)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(com)), http.StatusFound)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(org)), http.StatusFound)
	// Another user's session is not touched.
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(bob)), http.StatusOK)
}
