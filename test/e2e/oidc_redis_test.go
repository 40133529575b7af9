package e2e_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
	"gate/internal/testkit/oidctest"
	"gate/internal/testkit/redistest"
)

// TestOIDCTwoInstances runs two gate instances on one Redis behind the
// shipped nginx configuration, its upstream naming both: nginx takes turns
// (round robin), so a sign-in begun on one instance completes on the
// other; callbacks racing on both instances with one state sign in once;
// and the provider's back-channel logout, which reaches one of them, ends
// the session on both.
func TestOIDCTwoInstances(t *testing.T) {
	nginx := testkit.Need(t, "nginx", proxyKinds[0].how, "nginx")
	testkit.Need(t, "redis", "Debian: apt-get install redis-server", "redis-server")
	rds := redistest.StartServer(t, redistest.ServerOptions{})

	s := &stack{kind: proxyKinds[0], echo: startEcho(t)}
	s.ports.proxy = testkit.FreePort(t)
	s.ports.app = s.echo.port
	idp := oidctest.Start(t, oidctest.Config{
		RedirectURIs: []string{fmt.Sprintf("http://auth.example.com:%d/api/oidc/%s/callback", s.ports.proxy, oidcID)},
	})
	idp.AddUser(carol)
	idp.SignInAs(carolSubject)
	o := &idpStack{stack: s, idp: idp, id: oidcID, name: oidcName}

	// Both instances share the session secret and the key prefixes, as
	// instances on one store must: the state's and the sessions' keys
	// derive from the secret.
	shared := filepath.Join(t.TempDir(), "session_secret")
	writeFile(t, shared, rand.Text()+rand.Text()+"\n")
	prefix := redistest.Prefix()
	var gates [2]*proc
	var ports [2]int
	for i := range gates {
		dir := t.TempDir()
		users := writeUsers(t, dir)
		gates[i], ports[i] = runGate(t, dir, func(port int) string {
			cfg := strings.Replace(fmt.Sprintf(gateConfig, port, s.ports.proxy, users),
				"authentication_backend:\n", "authentication_backend:\n"+o.backendYAML(), 1)
			return cfg + fmt.Sprintf("  redis:\n    host: 127.0.0.1\n    port: %d\n    state_prefix: '%s'\n    session_prefix: '%s'\n",
				rds.Port, prefix+"state:", prefix+"session:")
		}, "GATE_SESSION_SECRET_FILE="+shared)
	}
	for _, g := range gates {
		waitDiscovered(t, g)
	}
	s.gate = gates[0]
	startNginxTwoGates(t, nginx, s, ports)

	c := client(t, s.ports.proxy)
	starts := logLineCounts(t, gates, "path="+o.path("start"))
	callback := o.pendingCallback(t, c)
	began := changed(t, gates, starts, "path="+o.path("start"))
	signIns := logLineCounts(t, gates, "oidc sign-in succeeded")
	o.finishSignIn(t, c, callback)
	if done := changed(t, gates, signIns, "oidc sign-in succeeded"); done == began {
		t.Fatalf("the sign-in began and completed on instance %d; want nginx to take turns", began)
	}

	// A state is used once across instances too: of callbacks sent at
	// once, through nginx to both instances, exactly one signs in.
	racer := client(t, s.ports.proxy)
	o.wantOneWinner(t, racer, o.pendingCallback(t, racer))

	// Each instance, asked directly, knows the session, and after the
	// provider's logout (which reaches one of them through nginx) neither
	// does.
	cookie := cookieHeader(c, s.appURL("/"))
	for i, port := range ports {
		if got := authzStatus(t, port, s.appURL("/private"), cookie); got != http.StatusOK {
			t.Fatalf("instance %d: authz status = %d; want 200", i, got)
		}
	}
	o.backchannelLogout(t, idp.LogoutToken(carolSubject, ""))
	for i, port := range ports {
		if got := authzStatus(t, port, s.appURL("/private"), cookie); got != http.StatusUnauthorized {
			t.Errorf("instance %d after the back-channel logout: authz status = %d; want 401", i, got)
		}
	}
	if got := s.status(t, cookie); got != http.StatusFound {
		t.Errorf("through nginx after the back-channel logout: status = %d; want 302 to the portal", got)
	}
}

// authzStatus asks a gate instance directly, as nginx does, whether the
// request for target with cookie may pass.
func authzStatus(t *testing.T, gatePort int, target, cookie string) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp := doRequest(t, c, newRequest(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/api/authz/auth-request", gatePort), nil, http.Header{
		"X-Original-Url":    {target},
		"X-Original-Method": {http.MethodGet},
		"X-Forwarded-For":   {"127.0.0.1"},
		"Cookie":            {cookie},
	}))
	return resp.StatusCode
}

// backendYAML is the provider's entry for authentication_backend.
func (o *idpStack) backendYAML() string {
	return fmt.Sprintf(`  oidc:
    - id: %s
      name: '%s'
      issuer: '%s'
      client_id: '%s'
      client_secret: '%s'
      scopes: [openid, profile, email, groups]
      claims: {user: preferred_username, email: email, name: name, groups: groups}
`, o.id, o.name, o.idp.Issuer, o.idp.ClientID, o.idp.ClientSecret)
}

// startNginxTwoGates runs the shipped nginx configuration with both gate
// instances in its upstream, once it routes to the portal.
func startNginxTwoGates(t *testing.T, nginx string, s *stack, gates [2]int) {
	t.Helper()
	dir := t.TempDir()
	conf := render(t, "configs/nginx/gate.conf",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", s.ports.proxy),
		"server gate:9091;", fmt.Sprintf("server 127.0.0.1:%d; server 127.0.0.1:%d;", gates[0], gates[1]),
		"server app:80;", fmt.Sprintf("server 127.0.0.1:%d;", s.ports.app),
	)
	writeFile(t, filepath.Join(dir, "gate.conf"), conf)
	writeFile(t, filepath.Join(dir, "nginx.conf"), fmt.Sprintf(nginxMain, filepath.Join(dir, "gate.conf")))
	p := start(t, "nginx", dir, exec.Command(nginx, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr"))
	c := client(t, s.ports.proxy)
	p.waitFor(t, 15*time.Second, "route to the portal", func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.portalURL("/"), nil)
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// logLineCounts counts, for each instance, the lines of its log that
// contain text.
func logLineCounts(t *testing.T, gates [2]*proc, text string) [2]int {
	t.Helper()
	return [2]int{gates[0].logCount(t, text), gates[1].logCount(t, text)}
}

// changed is the one instance whose count of lines with text grew from
// before; it fails the test unless exactly one grew by exactly one.
func changed(t *testing.T, gates [2]*proc, before [2]int, text string) int {
	t.Helper()
	now := logLineCounts(t, gates, text)
	which := -1
	for i := range now {
		switch now[i] - before[i] {
		case 0:
		case 1:
			if which >= 0 {
				t.Fatalf("both instances logged %q", text)
			}
			which = i
		default:
			t.Fatalf("instance %d logged %q %d times; want once", i, text, now[i]-before[i])
		}
	}
	if which < 0 {
		t.Fatalf("no instance logged %q", text)
	}
	return which
}
