package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
	"gate/internal/testkit/oidctest"
)

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
