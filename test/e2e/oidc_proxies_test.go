package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
	"gate/internal/testkit/oidctest"
)

// TestOIDCThroughProxies signs in through a real OpenID Connect provider
// behind each shipped proxy, without a browser: the provider's button on
// the portal, the start and callback through the proxy, the identity the
// app sees (a client's own Remote-User dropped), a callback carrying
// another browser's state refused, and a back-channel logout through the
// proxy ending the session.
func TestOIDCThroughProxies(t *testing.T) {
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			s := startOIDCStack(t, kind, bin)
			c := client(t, s.ports.proxy)

			page := s.get(t, c, s.portalURL("/"), nil)
			if b := readAll(t, page); page.StatusCode != 200 || !strings.Contains(b, `id="provider-corp"`) {
				t.Fatalf("portal: %d, no provider button:\n%s", page.StatusCode, b)
			}

			// A state begun in one browser, brought back in another.
			other := client(t, s.ports.proxy)
			start := s.get(t, other, s.portalURL("/api/oidc/corp/start"), nil)
			back := s.idp.Authorize(t, start.Header.Get("Location"))
			if resp := s.get(t, c, back.String(), nil); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("callback with another browser's state: %d; want 400", resp.StatusCode)
			}

			app := s.appURL("/private")
			start = s.get(t, c, s.portalURL("/api/oidc/corp/start?rd="+url.QueryEscape(app)), nil)
			if start.StatusCode != http.StatusFound {
				t.Fatalf("start: %d; want 302", start.StatusCode)
			}
			back = s.idp.Authorize(t, start.Header.Get("Location"))
			cb := s.get(t, c, back.String(), nil)
			if cb.StatusCode != http.StatusFound || cb.Header.Get("Location") != app {
				t.Fatalf("callback: %d to %q; want 302 to %s", cb.StatusCode, cb.Header.Get("Location"), app)
			}
			resp := s.get(t, c, app, map[string]string{"Remote-User": "admin", "Remote-Groups": "admins"})
			if resp.StatusCode != 200 {
				t.Fatalf("app after sign-in: %d; want 200", resp.StatusCode)
			}
			var seen echoed
			if err := json.Unmarshal([]byte(readAll(t, resp)), &seen); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"Remote-User": "dana", "Remote-Groups": "staff,ops", "Remote-Email": "dana@corp.example", "Remote-Name": "Dana Scully"} {
				if got, _ := headerValues(seen.Header, k); len(got) != 1 || got[0] != want {
					t.Errorf("app saw %s = %q; want [%q]", k, got, want)
				}
			}

			req, _ := http.NewRequest("POST", s.portalURL("/api/oidc/corp/backchannel-logout"),
				strings.NewReader(url.Values{"logout_token": {s.idp.LogoutToken("", "sid-dana")}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := client(t, s.ports.proxy).Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("back-channel logout through the proxy: %v, %v; want 200", err, resp)
			}
			if got := s.get(t, c, app, nil).StatusCode; got != http.StatusFound {
				t.Errorf("app after back-channel logout: %d; want 302 to the portal", got)
			}
		})
	}
}

// oidcStack is a stack whose gate signs users in through idp alone (its
// users file is empty).
type oidcStack struct {
	stack
	idp *oidctest.Provider
}

func startOIDCStack(t *testing.T, kind proxyKind, bin string) *oidcStack {
	t.Helper()
	s := &oidcStack{stack: stack{kind: kind, echo: startEcho(t)}}
	s.ports.proxy = testkit.FreePort(t)
	s.ports.app = s.echo.port
	s.idp = oidctest.Start(t, oidctest.Config{RedirectURIs: []string{s.portalURL("/api/oidc/corp/callback")}})
	s.idp.AddUser(oidctest.User{Subject: "sub-dana", Username: "dana", Email: "dana@corp.example", EmailVerified: true,
		Name: "Dana Scully", Claims: map[string]any{"groups": []string{"staff", "ops"}, "sid": "sid-dana"}})
	s.idp.SignInAs("sub-dana")
	dir := t.TempDir()
	s.users = filepath.Join(dir, "users.yml")
	writeFile(t, s.users, "users: {}\n")
	provider := fmt.Sprintf("authentication_backend:\n  oidc:\n    - id: corp\n      name: Corporate SSO\n      issuer: '%s'\n      client_id: '%s'\n      client_secret: '%s'\n",
		s.idp.Issuer, s.idp.ClientID, s.idp.ClientSecret)
	s.gate, s.ports.gate = runGate(t, dir, func(port int) string {
		return strings.Replace(fmt.Sprintf(gateConfig, port, s.ports.proxy, s.users), "authentication_backend:\n", provider, 1)
	})
	p := kind.start(t, bin, t.TempDir(), s.ports)
	c := client(t, s.ports.proxy)
	// Ready once the proxy routes to gate and gate has discovered the
	// provider: the start then redirects.
	p.waitFor(t, 15*time.Second, "the provider's start through the proxy", func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.portalURL("/api/oidc/corp/start"), nil)
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusFound
	})
	return s
}

// get sends a GET with extra headers through c.
func (s *oidcStack) get(t *testing.T, c *http.Client, u string, h map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
