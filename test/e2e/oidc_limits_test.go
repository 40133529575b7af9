package e2e_test

import (
	"fmt"
	"net/http"
	"testing"

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
