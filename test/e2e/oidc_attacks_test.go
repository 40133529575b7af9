package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"gate/internal/testkit"
)

// TestOIDCStartLimitThroughProxies: behind each shipped proxy, sign-in
// starts are bounded per client address, and a client cannot dodge the
// bound by sending its own X-Forwarded-For or X-Real-IP, a fresh one with
// each start: the proxy puts the real address there, so every start
// counts against 127.0.0.1 and the 429 comes with Retry-After.
func TestOIDCStartLimitThroughProxies(t *testing.T) {
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			s := startOIDCStack(t, kind, bin)
			// startOIDCStack's readiness probe was one admitted start; 30
			// more at most (and one more per 2 s the loop takes) before 429.
			admitted := 0
			for i := range 40 {
				forged := fmt.Sprintf("198.51.100.%d", i+1)
				resp := s.get(t, client(t, s.ports.proxy), s.portalURL("/api/oidc/corp/start"),
					map[string]string{"X-Forwarded-For": forged, "X-Real-IP": forged})
				switch resp.StatusCode {
				case http.StatusFound:
					admitted++
					continue
				case http.StatusTooManyRequests:
					if got := resp.Header.Get("Retry-After"); got == "" || got == "0" {
						t.Errorf("429 through the proxy: Retry-After %q; want whole seconds, at least 1", got)
					}
					if admitted < 29 {
						t.Errorf("429 after %d starts; want it after 29 (30 with the readiness probe)", admitted)
					}
					return
				default:
					t.Fatalf("start %d: %d; want 302 or 429", i+1, resp.StatusCode)
				}
			}
			t.Errorf("40 starts with forged forwarding headers, none refused: the forged addresses were counted as clients")
		})
	}
}

// TestOIDCNameOfAFileUserThroughProxies: behind each shipped proxy, a
// provider user not linked to the users file never passes as the file's
// user of its name. dana signs in through the provider; once the operator
// adds a dana to the (watched) users file, her provider session reaches
// the app no more, and a new sign-in of hers is refused, with the reason
// in gate's log.
func TestOIDCNameOfAFileUserThroughProxies(t *testing.T) {
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			s := startOIDCStack(t, kind, bin)
			app := s.appURL("/private")
			signIn := func(c *http.Client) *http.Response {
				t.Helper()
				start := s.get(t, c, s.portalURL("/api/oidc/corp/start?rd="+url.QueryEscape(app)), nil)
				if start.StatusCode != http.StatusFound {
					t.Fatalf("start: %d; want 302", start.StatusCode)
				}
				return s.get(t, c, s.idp.Authorize(t, start.Header.Get("Location")).String(), nil)
			}

			c := client(t, s.ports.proxy)
			if cb := signIn(c); cb.StatusCode != http.StatusFound {
				t.Fatalf("dana's sign-in while the file has no dana: %d; want 302", cb.StatusCode)
			}
			if got := s.get(t, c, app, nil).StatusCode; got != http.StatusOK {
				t.Fatalf("app after dana's sign-in: %d; want 200", got)
			}

			reloads := s.gate.logCount(t, "users file reloaded")
			writeFile(t, s.users, fmt.Sprintf("users:\n  dana:\n    password: '%s'\n    groups: [admins]\n", cheapHash("file-dana-password")))
			s.gate.waitFor(t, 10*time.Second, "users file reloaded", func(context.Context) bool {
				return s.gate.logCount(t, "users file reloaded") > reloads
			})
			if got := s.get(t, c, app, nil).StatusCode; got != http.StatusFound {
				t.Errorf("dana's provider session once the file has a dana: %d; want 302 to the portal", got)
			}

			other := client(t, s.ports.proxy)
			if cb := signIn(other); cb.StatusCode != http.StatusForbidden {
				t.Errorf("dana's sign-in once the file has a dana: %d; want 403", cb.StatusCode)
			}
			if got := s.get(t, other, app, nil).StatusCode; got != http.StatusFound {
				t.Errorf("app after the refused sign-in: %d; want 302 to the portal", got)
			}
			if s.gate.logCount(t, "the users file has an entry of this name") == 0 {
				t.Error("gate's log does not say why the sign-in was refused")
			}
		})
	}
}
