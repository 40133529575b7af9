package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gate/internal/testkit"
)

// target is a protected URL with an encoded path and a query string that
// must both reach the portal's rd, and later the app, byte for byte.
const targetPath = "/docs/a%20b/caf%C3%A9?q=a%2Bb&empty=&x=1"

// spoofed are client-sent identity headers that must never reach the app as
// an identity, in the spellings proxies treat differently.
var spoofed = map[string]string{
	"Remote-User":   "mallory",
	"Remote_User":   "mallory",
	"remote-groups": "admins",
	"Remote-Email":  "mallory@evil.example",
	"Remote_Email":  "mallory@evil.example",
	"Remote-Name":   "Mallory",
}

// identity is what the app should see in the four identity headers.
type identity struct{ user, groups, email, name string }

var (
	alice     = identity{aliceName, aliceGroups, aliceEmail, aliceDisp}
	anonymous = identity{}
)

func TestProxies(t *testing.T) {
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			s := startStack(t, kind, bin)
			s.run(t)
		})
	}
}

// run walks one stack through anonymous access, login, spoofing attempts,
// logout and login regulation, in that order: later steps use the session
// the login step made.
func (s *stack) run(t *testing.T) {
	c := client(t, s.ports.proxy)
	target := s.appURL(targetPath)

	t.Run("anonymous_get_redirects_to_portal", func(t *testing.T) {
		before := s.echo.hits.Load()
		resp := s.do(t, c, http.MethodGet, target, nil, nil)
		if got, want := resp.StatusCode, http.StatusFound; got != want {
			t.Fatalf("status = %d; want %d", got, want)
		}
		if got, want := resp.Header.Get("Location"), s.portalURL("/?rd="+url.QueryEscape(target)); got != want {
			t.Errorf("Location = %q; want %q", got, want)
		}
		s.noHits(t, before)
	})

	t.Run("anonymous_post_never_reaches_app", func(t *testing.T) {
		before := s.echo.hits.Load()
		for _, accept := range []string{"text/html", "application/json"} {
			resp := s.do(t, c, http.MethodPost, s.appURL("/submit?x=1"), strings.NewReader("a=b&c=d"), http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"},
				"Accept":       {accept},
			})
			switch resp.StatusCode {
			case http.StatusFound, http.StatusSeeOther, http.StatusUnauthorized:
			default:
				t.Errorf("Accept %s: status = %d; want 302, 303 or 401", accept, resp.StatusCode)
			}
			if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, s.portalURL("/?rd=")) {
				t.Errorf("Accept %s: Location = %q; want the portal", accept, loc)
			}
		}
		s.noHits(t, before)
	})

	t.Run("spoofed_identity_anonymous", func(t *testing.T) {
		before := s.echo.hits.Load()
		resp := s.do(t, c, http.MethodGet, target, nil, spoofHeaders())
		if resp.StatusCode != http.StatusFound {
			t.Errorf("protected route: status = %d; want 302", resp.StatusCode)
		}
		s.noHits(t, before)

		e := s.get(t, c, s.appURL("/public/page?x=1"), spoofHeaders())
		checkIdentity(t, e, anonymous)
	})

	// gate serves these, but only to the proxy's own questions and to a
	// scraper on gate's address: on the portal host the proxy says 404.
	t.Run("portal_hides_metrics_and_authz", func(t *testing.T) {
		g, direct := client(t, s.ports.gate), fmt.Sprintf("http://127.0.0.1:%d", s.ports.gate)
		if resp := s.do(t, g, http.MethodGet, direct+"/metrics", nil, nil); resp.StatusCode != http.StatusOK ||
			!strings.Contains(readAll(t, resp), "# TYPE gate_") {
			t.Fatalf("gate's own /metrics: status = %d; want 200 and Prometheus text", resp.StatusCode)
		}
		for _, path := range []string{"/metrics", "/api/authz/forward-auth", "/api/authz/auth-request"} {
			// gate itself answers the authz paths with anything but 404.
			if resp := s.do(t, g, http.MethodGet, direct+path, nil, nil); resp.StatusCode == http.StatusNotFound {
				t.Fatalf("gate's own %s: status = 404; the check below would prove nothing", path)
			}
			resp := s.do(t, c, http.MethodGet, s.portalURL(path), nil, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("portal %s: status = %d; want 404 from the proxy", path, resp.StatusCode)
			}
			if strings.Contains(body, "# TYPE") || strings.Contains(body, "# HELP") {
				t.Errorf("portal %s: the body is gate's metrics:\n%s", path, body)
			}
			if resp.Header.Get("Remote-User") != "" || resp.Header.Get("Location") != "" {
				t.Errorf("portal %s: an authz answer came back: %v", path, resp.Header)
			}
		}
	})

	var sessionCookie *http.Cookie
	t.Run("login_through_portal", func(t *testing.T) {
		portal := s.portalURL("/?rd=" + url.QueryEscape(target))
		resp := s.do(t, c, http.MethodGet, portal, nil, nil)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `action="/api/login"`) {
			t.Fatalf("portal: status = %d; want 200 and the login form:\n%s", resp.StatusCode, body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, s.appURL("")) {
			t.Errorf("portal CSP %q does not admit the rd origin %s in form-action", csp, s.appURL(""))
		}

		// The proxy must pass the client's Host: gate compares the login's
		// Origin with it.
		form := url.Values{"username": {aliceName}, "password": {alicePass}, "rd": {target}}
		resp = s.do(t, c, http.MethodPost, s.portalURL("/api/login"), strings.NewReader(form.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"},
			"Origin":       {s.portalOrigin()},
		})
		if got, want := resp.StatusCode, http.StatusFound; got != want {
			t.Fatalf("login: status = %d; want %d\n%s", got, want, readAll(t, resp))
		}
		if got := resp.Header.Get("Location"); got != target {
			t.Errorf("login: Location = %q; want %q", got, target)
		}
		for _, ck := range c.Jar.Cookies(mustParse(t, target)) {
			if ck.Name == "gate_session" {
				sessionCookie = ck
			}
		}
		if sessionCookie == nil {
			t.Fatal("login: no gate_session cookie for app.example.com")
		}

		e := s.get(t, c, target, nil)
		checkIdentity(t, e, alice)
		if e.URI != targetPath {
			t.Errorf("app saw URI %q; want %q", e.URI, targetPath)
		}
		if got := e.Header.Values("X-Forwarded-For"); !slices.Equal(got, []string{"127.0.0.1"}) {
			t.Errorf("app saw X-Forwarded-For %q; want [127.0.0.1]", got)
		}
	})
	if sessionCookie == nil {
		t.Fatal("no session: the remaining steps need one")
	}

	t.Run("spoofed_identity_authenticated", func(t *testing.T) {
		h := spoofHeaders()
		h.Set("X-Forwarded-For", "203.0.113.9")
		e := s.get(t, c, target, h)
		checkIdentity(t, e, alice)
		if got := e.Header.Values("X-Forwarded-For"); !slices.Equal(got, []string{"127.0.0.1"}) {
			t.Errorf("app saw X-Forwarded-For %q; want [127.0.0.1], the client-sent value overwritten", got)
		}
		// A bypass route with a session carries the user's identity too.
		checkIdentity(t, s.get(t, c, s.appURL("/public/page"), spoofHeaders()), alice)
	})

	t.Run("authenticated_post_reaches_app_with_body", func(t *testing.T) {
		resp := s.do(t, c, http.MethodPost, s.appURL("/submit?x=1"), strings.NewReader("a=b&c=d"), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"},
		})
		e := decodeEcho(t, resp)
		if e.Method != http.MethodPost || e.Body != "a=b&c=d" {
			t.Errorf("app saw %s with body %q; want POST with a=b&c=d", e.Method, e.Body)
		}
		checkIdentity(t, e, alice)
	})

	t.Run("logout_ends_access", func(t *testing.T) {
		resp := s.do(t, c, http.MethodPost, s.portalURL("/api/logout"), nil, http.Header{"Origin": {s.portalOrigin()}})
		if body := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed out") {
			t.Fatalf("logout: status = %d; want 200 and the signed-out page:\n%s", resp.StatusCode, body)
		}
		before := s.echo.hits.Load()
		if resp := s.do(t, c, http.MethodGet, target, nil, nil); resp.StatusCode != http.StatusFound {
			t.Errorf("after logout: status = %d; want 302 to the portal", resp.StatusCode)
		}
		// The old cookie, replayed, names a session that no longer exists.
		replay := client(t, s.ports.proxy)
		req := newRequest(t, http.MethodGet, target, nil, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie.Name, Value: sessionCookie.Value})
		resp = doRequest(t, replay, req)
		if resp.StatusCode != http.StatusFound {
			t.Errorf("replayed cookie after logout: status = %d; want 302 to the portal", resp.StatusCode)
		}
		s.noHits(t, before)
	})

	// It bans the proxy's client address for the rest of the stack's life.
	t.Run("login_regulation_sees_client_address", func(t *testing.T) {
		// Each attempt names another user and claims another client address.
		// A proxy that passed the client's X-Forwarded-For on would let
		// every attempt look like a new client, and none would be banned.
		try := func(i int) int {
			claimed := "203.0.113." + strconv.Itoa(i+1)
			form := url.Values{"username": {"nobody" + strconv.Itoa(i)}, "password": {"wrong"}}
			resp := s.do(t, c, http.MethodPost, s.portalURL("/api/login"), strings.NewReader(form.Encode()), http.Header{
				"Content-Type":    {"application/x-www-form-urlencoded"},
				"Origin":          {s.portalOrigin()},
				"X-Forwarded-For": {claimed},
				"X-Real-IP":       {claimed},
			})
			return resp.StatusCode
		}
		for i := range 3 {
			if got := try(i); got != http.StatusUnauthorized {
				t.Fatalf("failed login %d: status = %d; want 401", i+1, got)
			}
		}
		if got := try(3); got != http.StatusTooManyRequests {
			t.Errorf("login after 3 failures from one client under 3 claimed addresses: status = %d; want 429", got)
		}
	})

	// Last: it stops gate.
	t.Run("gate_down_fails_closed", func(t *testing.T) {
		s.gate.stop()
		before := s.echo.hits.Load()
		for _, u := range []string{target, s.appURL("/public/page")} {
			if resp := s.do(t, c, http.MethodGet, u, nil, nil); resp.StatusCode < 500 {
				t.Errorf("%s with gate down: status = %d; want 5xx", u, resp.StatusCode)
			}
		}
		s.noHits(t, before)
	})
}

func spoofHeaders() http.Header {
	h := http.Header{}
	for k, v := range spoofed {
		h[k] = []string{v} // as written: no canonicalization of "Remote_User"
	}
	return h
}

// checkIdentity checks the identity headers the app saw: gate's values
// under the exact names, nothing under other spellings, no client value and
// no unexpanded placeholder anywhere.
func checkIdentity(t *testing.T, e echoed, want identity) {
	t.Helper()
	for _, c := range []struct{ name, want string }{
		{"Remote-User", want.user},
		{"Remote-Groups", want.groups},
		{"Remote-Email", want.email},
		{"Remote-Name", want.name},
	} {
		values, names := headerValues(e.Header, c.name)
		for _, n := range names {
			if n != c.name {
				t.Errorf("app saw a %s header spelled %q", c.name, n)
			}
		}
		switch {
		case c.want == "" && len(values) == 0:
		case c.want == "" && slices.Equal(values, []string{""}):
		case len(values) == 1 && values[0] == c.want:
		default:
			t.Errorf("app saw %s = %q; want %q (headers:%s)", c.name, values, c.want, describe(e.Header))
		}
	}
	for k, vs := range e.Header {
		for _, v := range vs {
			if strings.Contains(v, "allory") || strings.Contains(v, "evil.example") || strings.Contains(v, "{http.") {
				t.Errorf("app saw %s: %q", k, v)
			}
		}
	}
}

func (s *stack) noHits(t *testing.T, before int64) {
	t.Helper()
	if n := s.echo.hits.Load() - before; n != 0 {
		t.Errorf("%d request(s) reached the app; want none", n)
	}
}

func newRequest(t *testing.T, method, u string, body io.Reader, h http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}

func doRequest(t *testing.T, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (s *stack) do(t *testing.T, c *http.Client, method, u string, body io.Reader, h http.Header) *http.Response {
	t.Helper()
	return doRequest(t, c, newRequest(t, method, u, body, h))
}

// get fetches u through the proxy and returns what the app saw.
func (s *stack) get(t *testing.T, c *http.Client, u string, h http.Header) echoed {
	t.Helper()
	return decodeEcho(t, s.do(t, c, http.MethodGet, u, nil, h))
}

func decodeEcho(t *testing.T, resp *http.Response) echoed {
	t.Helper()
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status = %d; want 200 from the app\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, body)
	}
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("%s: not the app's echo: %v\n%s", resp.Request.URL, err, body)
	}
	return e
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustParse(t *testing.T, u string) *url.URL {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
