package http_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"gate/internal/config"
)

// attackRules is the rule set of the path confusion reports: a public
// area, an admin area for admins, and a deny for everyone else.
var attackRules = []config.Rule{
	{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/public/"}, Policy: "bypass"},
	{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/admin"}, Subject: [][]string{{"group:admins"}}, Policy: "one_factor"},
	{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/admin"}, Policy: "deny"},
	{Domain: config.StringList{"*.example.com"}, Policy: "one_factor"},
}

// TestAuthzPathSpellings asks both endpoints about the reported spellings
// of the admin area: a user outside admins is refused, an anonymous one
// sent to log in, an admin let through.
func TestAuthzPathSpellings(t *testing.T) {
	e := newEnv(t, envOpts{rules: attackRules})
	alice := e.mustLogin("alice", alicePass)
	bob := e.mustLogin("bob", "bob-password")
	for _, uri := range []string{
		"/public/..%2fadmin/secret.html",
		"/public/%2e%2e%2Fadmin/secret.html",
		"/public/x/..%2f..%2fadmin/secret.html",
		"/admin%2Fsecret.html",
		"/admin%2fusers",
		"/public/..;/admin/secret.html",
		"/public%5C..%5Cadmin",
		"//admin",
	} {
		t.Run(uri, func(t *testing.T) {
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", uri, withCookie(bob)), 403)
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", uri), 302)
			wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", uri, withCookie(alice)), 200)
			wantStatus(t, e.authRequest("https://app.example.com"+uri, "GET", withCookie(bob)), 403)
			wantStatus(t, e.authRequest("https://app.example.com"+uri, "GET"), 401)
			wantStatus(t, e.authRequest("https://app.example.com"+uri, "GET", withCookie(alice)), 200)
		})
	}
	t.Run("backslash_forward_auth", func(t *testing.T) {
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", `/public\..\admin`, withCookie(bob)), 403)
	})
	t.Run("public_stays_public", func(t *testing.T) {
		wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/public/index.html"), 200)
	})
}

// TestAuthzRefusesBadPaths: a path backends read too differently to judge
// once is a 400 with a one-line reason, on both endpoints, whatever the
// rules and the session.
func TestAuthzRefusesBadPaths(t *testing.T) {
	e := newEnv(t, envOpts{})
	alice := e.mustLogin("alice", alicePass)
	for _, tt := range []struct{ name, uri, reason string }{
		{"nul", "/public/x%00.png", "%00"},
		{"nul_before_dot_dot", "/admin%00/../x", "%00"},
		{"overlong_slash", "/public/..%c0%afadmin", "overlong"},
		{"unicode_escape", "/public/..%u002fadmin", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, ask := range []struct {
				endpoint string
				do       func() *http.Response
			}{
				{"forward-auth", func() *http.Response {
					return e.forwardAuth("GET", "https", "public.example.com", tt.uri, withCookie(alice))
				}},
				{"auth-request", func() *http.Response {
					return e.authRequest("https://public.example.com"+tt.uri, "GET", withCookie(alice))
				}},
			} {
				resp := ask.do()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: status %d; want 400", ask.endpoint, resp.StatusCode)
				}
				if body := strings.TrimSuffix(string(b), "\n"); strings.Contains(body, "\n") || !strings.Contains(body, tt.reason) {
					t.Errorf("%s: body %q; want one line saying %q", ask.endpoint, b, tt.reason)
				}
			}
		})
	}
	t.Run("nul_in_query_is_the_apps", func(t *testing.T) {
		wantStatus(t, e.forwardAuth("GET", "https", "public.example.com", "/x?q=%00", withCookie(alice)), 200)
	})
}
