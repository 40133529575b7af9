package e2e_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"gate/internal/testkit"
)

// TestMachineClientsThroughProxies sends Basic and token credentials, and
// requests over a rate limit, through each shipped proxy configuration:
// right credentials reach the app as their user, wrong ones are answered
// 401 with WWW-Authenticate at the client (never a redirect to the
// portal), and the third request a minute to /limited from one client is
// answered 429 with Retry-After and the RateLimit-* headers, nginx
// included (gate's auth-request dialect says 403 with Retry-After, which
// the shipped nginx configuration turns into that 429).
func TestMachineClientsThroughProxies(t *testing.T) {
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			s := startStack(t, kind, bin)
			c := client(t, s.ports.proxy)
			basic := func(user, pass string) http.Header {
				return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
			}
			bearer := func(token string) http.Header {
				return http.Header{"Authorization": {"Bearer " + token}}
			}

			for _, ok := range []struct {
				name string
				h    http.Header
			}{
				{"basic", basic(aliceName, alicePass)},
				{"basic_cached", basic(aliceName, alicePass)},
				{"token", bearer(aliceToken)},
			} {
				resp := s.do(t, c, "GET", s.appURL("/api/"+ok.name), nil, ok.h)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status = %d; want 200", ok.name, resp.StatusCode)
				}
				checkIdentity(t, decodeEcho(t, resp), alice)
			}

			for _, bad := range []struct {
				name, scheme string
				h            http.Header
			}{
				{"wrong_password", "Basic", basic(aliceName, "wrong")},
				{"unknown_user", "Basic", basic("mallory", "x")},
				{"no_colon", "Basic", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}}},
				{"wrong_token", "Bearer", bearer("gate_" + strings.Repeat("A", 43))},
				{"token_wrong_shape", "Bearer", bearer("gate_short")},
			} {
				before := s.echo.hits.Load()
				resp := s.do(t, c, "GET", s.appURL("/api/x"), nil, bad.h)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: status = %d; want 401", bad.name, resp.StatusCode)
				}
				if got, want := resp.Header.Get("WWW-Authenticate"), bad.scheme+` realm="auth.example.com"`; got != want {
					t.Errorf("%s: WWW-Authenticate = %q; want %q", bad.name, got, want)
				}
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Errorf("%s: Location = %q; a machine client is not sent to the portal", bad.name, loc)
				}
				s.noHits(t, before)
			}

			for i := range 2 {
				resp := s.do(t, c, "GET", s.appURL(fmt.Sprintf("/limited/%d", i)), nil, nil)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("limited request %d: status = %d; want 200", i, resp.StatusCode)
				}
			}
			before := s.echo.hits.Load()
			resp := s.do(t, c, "GET", s.appURL("/limited/2"), nil, nil)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("third request a minute: status = %d; want 429", resp.StatusCode)
			}
			// Two a minute: one comes back 30 s after the first was
			// admitted, all of them 60 s after; the seconds the requests
			// took may have passed already.
			for _, h := range []struct {
				name     string
				min, max int
			}{{"Retry-After", 25, 30}, {"RateLimit-Limit", 2, 2}, {"RateLimit-Remaining", 0, 0}, {"RateLimit-Reset", 55, 60}} {
				got, err := strconv.Atoi(resp.Header.Get(h.name))
				if err != nil || got < h.min || got > h.max {
					t.Errorf("429: %s = %q; want %d to %d", h.name, resp.Header.Get(h.name), h.min, h.max)
				}
			}
			s.noHits(t, before)

			// A client cannot leave its counter by naming another address:
			// every shipped configuration overwrites the forwarding headers.
			spoof := http.Header{"X-Forwarded-For": {"198.51.100.77"}, "X-Real-Ip": {"198.51.100.78"}, "Forwarded": {"for=198.51.100.79"}}
			resp = s.do(t, c, "GET", s.appURL("/limited/3"), nil, spoof)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("over the limit with spoofed forwarding headers: status = %d; want 429", resp.StatusCode)
			}
			s.noHits(t, before)
		})
	}
}
