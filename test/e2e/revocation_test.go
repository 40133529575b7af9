package e2e_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
)

// TestRevocationThroughProxies edits the users file of a running gate, as
// an operator would, behind each shipped proxy: once alice is disabled her
// session no longer reaches the app, and putting her entry back as it was
// does not bring that session back; a new login works.
func TestRevocationThroughProxies(t *testing.T) {
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			s := startStack(t, kind, bin)
			alice := matrixUser{name: aliceName, password: alicePass}
			cookie := login(t, s, alice)
			if got := s.status(t, cookie); got != http.StatusOK {
				t.Fatalf("signed in: status = %d; want 200", got)
			}

			enabled, err := os.ReadFile(s.users)
			if err != nil {
				t.Fatal(err)
			}
			disabled := strings.Replace(string(enabled), "groups: [admins, dev]", "groups: [admins, dev]\n    disabled: true", 1)
			if disabled == string(enabled) {
				t.Fatal("the users file has no line to disable alice after")
			}
			writeFile(t, s.users, disabled)
			s.gate.waitFor(t, 10*time.Second, "alice's session refused", func(context.Context) bool {
				return s.status(t, cookie) == http.StatusFound
			})

			// A login attempt before the reload would count towards
			// regulation: wait for gate to say it reloaded.
			reloads := s.gate.logCount(t, "users file reloaded")
			writeFile(t, s.users, string(enabled))
			s.gate.waitFor(t, 10*time.Second, "users file reloaded", func(context.Context) bool {
				return s.gate.logCount(t, "users file reloaded") > reloads
			})
			fresh := login(t, s, alice)
			if got := s.status(t, cookie); got != http.StatusFound {
				t.Errorf("old session after alice came back: status = %d; want 302 to the portal", got)
			}
			if got := s.status(t, fresh); got != http.StatusOK {
				t.Errorf("new session: status = %d; want 200", got)
			}
		})
	}
}

// status GETs a protected page of the app through the proxy with cookie.
func (s *stack) status(t *testing.T, cookie string) int {
	t.Helper()
	resp := s.do(t, client(t, s.ports.proxy), http.MethodGet, s.appURL("/private"), nil, http.Header{"Cookie": {cookie}})
	return resp.StatusCode
}

// logCount counts the lines of p's output that contain text.
func (p *proc) logCount(t *testing.T, text string) int {
	t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), text)
}
