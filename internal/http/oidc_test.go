package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"gate/internal/config"
	"gate/internal/oidc"
	"gate/internal/ratelimit"
	"gate/internal/testkit"
	"gate/internal/testkit/oidctest"
	"gate/internal/testkit/redistest"
	"gate/internal/users"
)

// callbackURL is the corp provider's redirect URI on the test portal.
const callbackURL = portalURL + "/api/oidc/corp/callback"

// newProviders builds gate's providers for cfgs on states (memory when
// nil), linked to dir. They are discovered by discover, or run by the
// test.
func newProviders(t testing.TB, cfgs []config.OIDCProvider, states oidc.StateStore, dir *users.File) []*oidc.Provider {
	t.Helper()
	if states == nil {
		states = oidc.NewMemoryStates(0, nil)
	}
	var out []*oidc.Provider
	for _, c := range cfgs {
		p, err := oidc.New(c, oidc.Options{States: states, Key: testKeys(t).OIDCState, SealKey: testKeys(t).OIDCStateCipher, Users: dir, Logger: zerolog.Nop(),
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatalf("oidc.New: %v", err)
		}
		out = append(out, p)
	}
	return out
}

// discover runs discovery of every provider of e once.
func (e *env) discover() {
	e.t.Helper()
	for _, p := range e.providers {
		if err := p.Discover(context.Background()); err != nil {
			e.t.Fatalf("discover %s: %v", p.ID(), err)
		}
	}
}

// providerConfig is gate's configuration of idp as provider id.
func providerConfig(id string, idp *oidctest.Provider, edit func(*config.OIDCProvider)) config.OIDCProvider {
	c := config.OIDCProvider{
		ID: id, Name: "Corporate SSO", Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		Scopes: []string{"openid", "profile", "email"},
		Claims: config.OIDCClaims{User: "preferred_username", Email: "email", Name: "name", Groups: "groups"},
	}
	if edit != nil {
		edit(&c)
	}
	return c
}

// dana is the provider's user of most tests: no users-file entry.
var dana = oidctest.User{Subject: "sub-dana", Username: "dana", Email: "dana@corp.example", EmailVerified: true,
	Name: "Dana Scully", Claims: map[string]any{"groups": []string{"staff", "ops"}, "sid": "sid-dana"}}

// startIDP runs a provider whose client redirects to the test portal,
// with dana signing in.
func startIDP(t testing.TB) *oidctest.Provider {
	t.Helper()
	idp := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{callbackURL}})
	idp.AddUser(dana)
	idp.SignInAs(dana.Subject)
	return idp
}

// newOIDCEnv is a gate with the corp provider at idp, discovered.
func newOIDCEnv(t testing.TB, idp *oidctest.Provider, edit func(*config.OIDCProvider), o envOpts) *env {
	t.Helper()
	o.oidc = append(o.oidc, providerConfig("corp", idp, edit))
	e := newEnv(t, o)
	e.discover()
	return e
}

// browser is one browser's cookies for the portal host: the binding
// cookie and the session cookie.
type browser struct {
	binding, session *http.Cookie
}

// start begins a sign-in at provider id with rd and returns the
// authorization URL; the browser keeps the binding cookie.
func (e *env) start(b *browser, id, rd string) *http.Response {
	e.t.Helper()
	return e.startAt(b, portalURL, id, rd)
}

// startAt is start on the portal at portal.
func (e *env) startAt(b *browser, portal, id, rd string) *http.Response {
	e.t.Helper()
	r := httptest.NewRequest("GET", portal+"/api/oidc/"+id+"/start?rd="+url.QueryEscape(rd), nil)
	if b.binding != nil {
		r.AddCookie(b.binding)
	}
	resp := e.do(r)
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-gate_oidc" {
			b.binding = c
		}
	}
	return resp
}

// callback brings the provider's answer back to gate in browser b.
func (e *env) callback(b *browser, back *url.URL) *http.Response {
	e.t.Helper()
	r := httptest.NewRequest("GET", back.String(), nil)
	if b.binding != nil {
		r.AddCookie(b.binding)
	}
	if b.session != nil {
		r.AddCookie(b.session)
	}
	resp := e.do(r)
	if c := sessionCookie(resp); c != nil {
		b.session = c
	}
	return resp
}

// signIn runs a whole sign-in at provider id in a fresh browser and
// returns the callback's answer and the browser.
func (e *env) signIn(idp *oidctest.Provider, id, rd string) (*http.Response, *browser) {
	e.t.Helper()
	b := &browser{}
	start := e.start(b, id, rd)
	wantStatus(e.t, start, http.StatusFound)
	back := idp.Authorize(e.t, start.Header.Get("Location"))
	return e.callback(b, back), b
}

func TestOIDCSignIn(t *testing.T) {
	idp := startIDP(t)
	e := newOIDCEnv(t, idp, nil, envOpts{})

	page := e.do(httptest.NewRequest("GET", portalURL+"/?rd="+url.QueryEscape("https://app.example.com/x"), nil))
	wantStatus(t, page, 200)
	want := `<a class="provider" id="provider-corp" href="https://auth.example.com/api/oidc/corp/start?rd=https%3a%2f%2fapp.example.com%2fx">Sign in with Corporate SSO</a>`
	if b := body(t, page); !strings.Contains(strings.ToLower(b), strings.ToLower(want)) || !strings.Contains(b, `action="/api/login"`) {
		t.Errorf("portal page lacks the provider button %s or the password form:\n%s", want, b)
	}

	start := e.start(&browser{}, "corp", "https://app.example.com/x")
	wantStatus(t, start, http.StatusFound)
	auth, err := url.Parse(start.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := auth.Query()
	for k, want := range map[string]string{"code_challenge_method": "S256", "redirect_uri": callbackURL, "client_id": idp.ClientID, "response_type": "code"} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization URL %s = %q; want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("authorization URL %s = %q; want at least 256 bits", k, q.Get(k))
		}
	}
	var binding *http.Cookie
	for _, c := range start.Cookies() {
		if c.Name == "__Host-gate_oidc" {
			binding = c
		}
	}
	if binding == nil || !binding.HttpOnly || !binding.Secure || binding.SameSite != http.SameSiteLaxMode || binding.Path != "/" || binding.MaxAge != 600 {
		t.Errorf("binding cookie = %+v; want __Host-gate_oidc, HttpOnly, Secure, SameSite=Lax, Path=/, Max-Age=600", binding)
	}

	cb, b := e.signIn(idp, "corp", "https://app.example.com/x")
	wantStatus(t, cb, http.StatusFound)
	if got, want := cb.Header.Get("Location"), "https://app.example.com/x"; got != want {
		t.Errorf("callback Location = %q; want %q", got, want)
	}
	if b.session == nil {
		t.Fatal("callback set no session cookie")
	}
	resp := e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(b.session))
	wantStatus(t, resp, 200)
	wantIdentity(t, resp, "dana", "staff,ops", "dana@corp.example", "Dana Scully")
}

// A refused sign-in shows the portal with a generic message and no
// script, with the status saying what kind of failure it was.
func TestOIDCRefusals(t *testing.T) {
	idp := startIDP(t)
	e := newOIDCEnv(t, idp, nil, envOpts{})
	resign := func(edit func(c map[string]any)) func(map[string]any) string {
		return func(c map[string]any) string { edit(c); return idp.Sign(c) }
	}
	tests := []struct {
		name    string
		rewrite func(map[string]any) string
		want    int
	}{
		// The control: re-signed unchanged, the token is good, so the
		// refusals below are the changes' doing.
		{"resigned_unchanged", resign(func(map[string]any) {}), http.StatusFound},
		{"tampered_id_token", func(c map[string]any) string {
			signed := idp.Sign(c)
			c["preferred_username"] = "alice"
			return oidctest.Tamper(signed, c)
		}, http.StatusForbidden},
		{"foreign_signature", func(c map[string]any) string { return idp.SignForeign(c) }, http.StatusForbidden},
		{"wrong_aud", resign(func(c map[string]any) { c["aud"] = "another-client" }), http.StatusForbidden},
		{"expired", resign(func(c map[string]any) {
			c["exp"] = time.Now().Add(-time.Minute).Unix()
			c["iat"] = time.Now().Add(-time.Hour).Unix()
		}), http.StatusForbidden},
		{"missing_nonce", resign(func(c map[string]any) { delete(c, "nonce") }), http.StatusForbidden},
		{"other_nonce", resign(func(c map[string]any) { c["nonce"] = "not-this-sign-in" }), http.StatusForbidden},
		{"wrong_iss", resign(func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" }), http.StatusForbidden},
		{"missing_user_claim", resign(func(c map[string]any) { delete(c, "preferred_username") }), http.StatusForbidden},
		{"empty_user_claim", resign(func(c map[string]any) { c["preferred_username"] = "" }), http.StatusForbidden},
		{"several_audiences_other_azp", resign(func(c map[string]any) { c["aud"] = []string{idp.ClientID, "other"}; c["azp"] = "other" }), http.StatusForbidden},
		{"control_characters", resign(func(c map[string]any) { c["preferred_username"] = "dana\r\nRemote-User: admin" }), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp.RewriteIDTokens(tt.rewrite)
			t.Cleanup(func() { idp.RewriteIDTokens(nil) })
			resp, b := e.signIn(idp, "corp", "")
			if tt.want == http.StatusFound {
				wantStatus(t, resp, tt.want)
				return
			}
			wantRefusalPage(t, resp, tt.want)
			if b.session != nil {
				t.Error("a refused sign-in set a session cookie")
			}
		})
	}

	t.Run("access_denied", func(t *testing.T) {
		idp.Deny(true)
		t.Cleanup(func() { idp.Deny(false) })
		resp, _ := e.signIn(idp, "corp", "")
		wantRefusalPage(t, resp, http.StatusForbidden)
	})
	t.Run("replayed_state", func(t *testing.T) {
		b := &browser{}
		start := e.start(b, "corp", "")
		back := idp.Authorize(t, start.Header.Get("Location"))
		wantStatus(t, e.callback(b, back), http.StatusFound)
		wantRefusalPage(t, e.callback(&browser{binding: b.binding}, back), http.StatusBadRequest)
	})
	t.Run("state_from_another_browser", func(t *testing.T) {
		attacker := &browser{}
		start := e.start(attacker, "corp", "")
		back := idp.Authorize(t, start.Header.Get("Location"))
		victim := &browser{}
		e.start(victim, "corp", "") // the victim has a binding of its own
		wantRefusalPage(t, e.callback(victim, back), http.StatusBadRequest)
		wantRefusalPage(t, e.callback(&browser{}, back), http.StatusBadRequest)
	})
	t.Run("repeated_parameter", func(t *testing.T) {
		b := &browser{}
		start := e.start(b, "corp", "")
		back := idp.Authorize(t, start.Header.Get("Location"))
		q := back.Query()
		q.Add("code", "another-code")
		back.RawQuery = q.Encode()
		wantRefusalPage(t, e.callback(b, back), http.StatusBadRequest)
	})
	t.Run("unknown_provider", func(t *testing.T) {
		wantStatus(t, e.do(httptest.NewRequest("GET", portalURL+"/api/oidc/nope/start", nil)), http.StatusNotFound)
	})
}

// wantRefusalPage checks a refused sign-in's answer: the portal page with
// a generic message, no script, no session.
func wantRefusalPage(t testing.TB, resp *http.Response, code int) {
	t.Helper()
	wantStatus(t, resp, code)
	b := body(t, resp)
	i := strings.Index(b, `class="error"`)
	if i < 0 || strings.Contains(b, "<script") {
		t.Fatalf("refusal page lacks the error or carries script:\n%s", b)
	}
	msg := strings.ToLower(b[i:])
	msg = msg[:strings.Index(msg, "</p>")]
	for _, leak := range []string{"nonce", "token", "aud", "iss", "claim", "allow"} {
		if strings.Contains(msg, leak) {
			t.Errorf("refusal message %q names %q; the reason is for the log", msg, leak)
		}
	}
	if sessionCookie(resp) != nil {
		t.Error("refusal set a session cookie")
	}
}

// An ID token from one provider, presented at another's callback, is
// refused (the iss mix-up), and so is one provider's state at another's
// callback.
func TestOIDCIssuerMixUp(t *testing.T) {
	a, b := startIDP(t), oidctest.Start(t, oidctest.Config{RedirectURIs: []string{portalURL + "/api/oidc/other/callback"}})
	b.AddUser(dana)
	b.SignInAs(dana.Subject)
	e := newEnv(t, envOpts{oidc: []config.OIDCProvider{providerConfig("corp", a, nil), providerConfig("other", b, nil)}})
	e.discover()

	// b's token endpoint answers an ID token a signed, for b's client.
	b.RewriteIDTokens(func(c map[string]any) string { c["iss"] = a.Issuer; return a.Sign(c) })
	resp, _ := e.signIn(b, "other", "")
	wantRefusalPage(t, resp, http.StatusForbidden)
	b.RewriteIDTokens(nil)

	// a's answer brought to b's callback.
	br := &browser{}
	start := e.start(br, "corp", "")
	back := a.Authorize(t, start.Header.Get("Location"))
	back.Path = "/api/oidc/other/callback"
	wantRefusalPage(t, e.callback(br, back), http.StatusBadRequest)
}

func TestOIDCAllowAndLink(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*config.OIDCProvider)
		user  oidctest.User
		want  int
		ident [4]string // user, groups, email, name on success
	}{
		{"allow_email_domain", func(c *config.OIDCProvider) { c.Allow.EmailDomains = []string{"corp.example"} }, dana, 302,
			[4]string{"dana", "staff,ops", "dana@corp.example", "Dana Scully"}},
		{"allow_email_domain_other", func(c *config.OIDCProvider) { c.Allow.EmailDomains = []string{"example.com"} }, dana, 403, [4]string{}},
		{"allow_email_domain_unverified", func(c *config.OIDCProvider) { c.Allow.EmailDomains = []string{"corp.example"} },
			with(dana, func(u *oidctest.User) { u.EmailVerified = false }), 403, [4]string{}},
		{"allow_group", func(c *config.OIDCProvider) { c.Allow.Groups = []string{"ops"} }, dana, 302,
			[4]string{"dana", "staff,ops", "dana@corp.example", "Dana Scully"}},
		{"allow_group_other", func(c *config.OIDCProvider) { c.Allow.Groups = []string{"admins"} }, dana, 403, [4]string{}},
		{"allow_user", func(c *config.OIDCProvider) { c.Allow.Users = []string{"dana"} }, dana, 302,
			[4]string{"dana", "staff,ops", "dana@corp.example", "Dana Scully"}},
		{"allow_user_other", func(c *config.OIDCProvider) { c.Allow.Users = []string{"alice"} }, dana, 403, [4]string{}},
		{"groups_one_string", nil, with(dana, func(u *oidctest.User) { u.Claims = map[string]any{"groups": "staff"} }), 302,
			[4]string{"dana", "staff", "dana@corp.example", "Dana Scully"}},
		{"groups_custom_claim", func(c *config.OIDCProvider) { c.Claims.Groups = "roles" },
			with(dana, func(u *oidctest.User) { u.Claims = map[string]any{"roles": []string{"a", "b"}} }), 302,
			[4]string{"dana", "a,b", "dana@corp.example", "Dana Scully"}},
		{"unverified_email_not_passed_on", nil, with(dana, func(u *oidctest.User) { u.EmailVerified = false }), 302,
			[4]string{"dana", "staff,ops", "", "Dana Scully"}},
		// alice exists in the users file: unlinked, a provider user of
		// her name is refused (downstream it would pass as her), and so
		// is one named like the disabled carol, or one link: email does
		// not take; with link, the file's entry.
		{"same_name_unlinked", nil, with(dana, func(u *oidctest.User) { u.Username = "alice" }), 403, [4]string{}},
		{"same_name_as_disabled_unlinked", nil, with(dana, func(u *oidctest.User) { u.Username = "carol" }), 403, [4]string{}},
		{"same_name_link_email_unmatched", func(c *config.OIDCProvider) { c.Link = config.LinkEmail },
			with(dana, func(u *oidctest.User) { u.Username = "alice" }), 403, [4]string{}},
		{"link_user", func(c *config.OIDCProvider) { c.Link = config.LinkUser }, with(dana, func(u *oidctest.User) { u.Username = "alice" }), 302,
			[4]string{"alice", "admins,dev", "alice@example.com", "Alice Smith"}},
		{"link_email", func(c *config.OIDCProvider) { c.Link = config.LinkEmail }, with(dana, func(u *oidctest.User) { u.Email = "BOB@example.com" }), 302,
			[4]string{"bob", "dev", "bob@example.com", "Bob"}},
		{"link_email_unverified", func(c *config.OIDCProvider) { c.Link = config.LinkEmail },
			with(dana, func(u *oidctest.User) { u.Email, u.EmailVerified = "bob@example.com", false }), 302,
			[4]string{"dana", "staff,ops", "", "Dana Scully"}},
		{"link_user_disabled", func(c *config.OIDCProvider) { c.Link = config.LinkUser }, with(dana, func(u *oidctest.User) { u.Username = "carol" }), 403, [4]string{}},
		{"link_user_no_entry", func(c *config.OIDCProvider) { c.Link = config.LinkUser }, dana, 302,
			[4]string{"dana", "staff,ops", "dana@corp.example", "Dana Scully"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := startIDP(t)
			idp.AddUser(tt.user)
			e := newOIDCEnv(t, idp, tt.edit, envOpts{})
			resp, b := e.signIn(idp, "corp", "")
			if tt.want != 302 {
				wantRefusalPage(t, resp, tt.want)
				return
			}
			wantStatus(t, resp, 302)
			got := e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(b.session))
			wantStatus(t, got, 200)
			wantIdentity(t, got, tt.ident[0], tt.ident[1], tt.ident[2], tt.ident[3])
		})
	}
}

func with(u oidctest.User, edit func(*oidctest.User)) oidctest.User {
	edit(&u)
	return u
}

// rd is carried through the provider and validated for the request's
// cookie domain as a password login's: a foreign one lands on the default.
func TestOIDCRedirect(t *testing.T) {
	idp := startIDP(t)
	e := newOIDCEnv(t, idp, nil, envOpts{})
	for rd, want := range map[string]string{
		"https://app.example.com/a?b=c":   "https://app.example.com/a?b=c",
		"https://evil.example.net/":       "https://www.example.com/",
		"//evil.example.net/":             "https://www.example.com/",
		"https://example.com.evil.org/":   "https://www.example.com/",
		"http://app.example.com/insecure": "https://www.example.com/",
		"":                                "https://www.example.com/",
	} {
		resp, _ := e.signIn(idp, "corp", rd)
		wantStatus(t, resp, 302)
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("rd %q: Location = %q; want %q", rd, got, want)
		}
	}
}

// A provider down at start: its start answers 503 and password logins
// work; once discovery answers (back-off), its sign-in works.
func TestOIDCDiscoveryDownThenUp(t *testing.T) {
	idp := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{callbackURL}, Down: true})
	idp.AddUser(dana)
	idp.SignInAs(dana.Subject)
	e := newEnv(t, envOpts{oidc: []config.OIDCProvider{providerConfig("corp", idp, nil)}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.providers[0].Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// More starts than the per-client bound: while the provider is down
	// they store nothing and do not count, so the sign-in below is not
	// held back.
	for range 40 {
		wantStatus(t, e.start(&browser{}, "corp", ""), http.StatusServiceUnavailable)
	}
	wantStatus(t, e.do(httptest.NewRequest("GET", "/readyz", nil)), 200)
	if resp, c := e.login("alice", alicePass, ""); resp.StatusCode != 302 || c == nil {
		t.Fatalf("password login while the provider is down = %d; want 302 with a session", resp.StatusCode)
	}

	idp.SetDown(false)
	deadline := time.Now().Add(5 * time.Second)
	for !e.providers[0].Ready() {
		if time.Now().After(deadline) {
			t.Fatal("discovery did not succeed within 5s of the provider coming up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, b := e.signIn(idp, "corp", "")
	wantStatus(t, resp, 302)
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(b.session)), 200)
}

// Without a users file, the portal shows only the buttons.
func TestOIDCOnlyPortal(t *testing.T) {
	idp := startIDP(t)
	e := newOIDCEnv(t, idp, nil, envOpts{noPasswords: true})
	b := body(t, e.do(httptest.NewRequest("GET", portalURL+"/", nil)))
	if !strings.Contains(b, `id="provider-corp"`) || strings.Contains(b, `name="password"`) {
		t.Errorf("portal without a users file: want the button and no password form:\n%s", b)
	}
}

// backchannel posts a logout token to provider id's back-channel logout.
func (e *env) backchannel(id, token string) *http.Response {
	e.t.Helper()
	r := httptest.NewRequest("POST", portalURL+"/api/oidc/"+id+"/backchannel-logout",
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(r)
}

func TestOIDCBackchannelLogout(t *testing.T) {
	idp := startIDP(t)
	e := newOIDCEnv(t, idp, nil, envOpts{})
	app := func(b *browser) int {
		return e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(b.session)).StatusCode
	}

	bad := []struct {
		name  string
		token string
	}{
		{"nonce", idp.Sign(with2(idp.LogoutClaims(dana.Subject, ""), func(c map[string]any) { c["nonce"] = "n" }))},
		{"no_event", idp.Sign(with2(idp.LogoutClaims(dana.Subject, ""), func(c map[string]any) { delete(c, "events") }))},
		{"no_sub_no_sid", idp.LogoutToken("", "")},
		{"wrong_aud", idp.Sign(with2(idp.LogoutClaims(dana.Subject, ""), func(c map[string]any) { c["aud"] = "other" }))},
		{"wrong_iss", idp.Sign(with2(idp.LogoutClaims(dana.Subject, ""), func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" }))},
		{"expired", idp.Sign(with2(idp.LogoutClaims(dana.Subject, ""), func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))},
		{"iat_in_future", idp.Sign(with2(idp.LogoutClaims(dana.Subject, ""), func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }))},
		{"foreign_signature", idp.SignForeign(idp.LogoutClaims(dana.Subject, ""))},
		{"not_a_jwt", "not-a-token"},
	}
	_, victim := e.signIn(idp, "corp", "")
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.backchannel("corp", tt.token)
			wantStatus(t, resp, http.StatusBadRequest)
			if got := app(victim); got != 200 {
				t.Errorf("after a refused logout token the session answers %d; want 200", got)
			}
		})
	}
	t.Run("repeated_token_field", func(t *testing.T) {
		tok := idp.LogoutToken(dana.Subject, "")
		r := httptest.NewRequest("POST", portalURL+"/api/oidc/corp/backchannel-logout",
			strings.NewReader(url.Values{"logout_token": {tok, tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		wantStatus(t, e.do(r), http.StatusBadRequest)
	})

	t.Run("by_sid", func(t *testing.T) {
		_, one := e.signIn(idp, "corp", "")
		idp.AddUser(with(dana, func(u *oidctest.User) { u.Claims = map[string]any{"groups": "staff", "sid": "sid-other"} }))
		_, two := e.signIn(idp, "corp", "")
		idp.AddUser(dana)
		wantStatus(t, e.backchannel("corp", idp.LogoutToken("", "sid-other")), 200)
		if app(one) != 200 || app(two) != 302 {
			t.Errorf("after logout by sid: first %d, second %d; want 200, 302", app(one), app(two))
		}
	})
	t.Run("by_subject", func(t *testing.T) {
		_, other := e.login("alice", alicePass, "")
		wantStatus(t, e.backchannel("corp", idp.LogoutToken(dana.Subject, "")), 200)
		if got := app(victim); got != 302 {
			t.Errorf("after back-channel logout the session answers %d; want 302", got)
		}
		if got := e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(other)).StatusCode; got != 200 {
			t.Errorf("another user's session answers %d; want 200", got)
		}
	})
}

func with2(c map[string]any, edit func(map[string]any)) map[string]any {
	edit(c)
	return c
}

// Two instances on one Redis: a sign-in begun on one completes on the
// other, and a back-channel logout received by one ends the session on
// both; on a single server, Sentinel and Cluster.
func TestOIDCRedisTwoInstances(t *testing.T) {
	topologies := []struct {
		name string
		cfg  func(t *testing.T) config.Redis
	}{
		{"single", func(t *testing.T) config.Redis {
			return redisConfig(redistest.StartServer(t, redistest.ServerOptions{}))
		}},
		{"sentinel", func(t *testing.T) config.Redis {
			g := redistest.StartSentinel(t, redistest.SentinelOptions{})
			c := redistest.Config()
			c.HighAvailability = &config.RedisSentinel{SentinelName: redistest.MasterName, Nodes: redisNodes(g.Addrs)}
			return c
		}},
		{"cluster", func(t *testing.T) config.Redis {
			c := redistest.Config()
			c.Cluster = &config.RedisCluster{Nodes: redisNodes(redistest.StartCluster(t).Addrs)}
			return c
		}},
	}
	for _, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) {
			t.Parallel()
			testOIDCTwoInstances(t, tp.cfg(t))
		})
	}
}

func testOIDCTwoInstances(t *testing.T, cfg config.Redis) {
	usersPath := writeRedisUsers(t)
	idp := startIDP(t)
	pc := []config.OIDCProvider{providerConfig("corp", idp, nil)}
	a := newRedisGateOIDC(t, cfg, usersPath, nil, pc)
	b := newRedisGateOIDC(t, cfg, usersPath, nil, pc)
	a.discover()
	b.discover()

	br := &browser{}
	start := a.start(br, "corp", "https://app.example.com/")
	wantStatus(t, start, 302)
	back := idp.Authorize(t, start.Header.Get("Location"))
	wantStatus(t, b.callback(br, back), 302)
	// The state was used on b; a replay on a finds nothing.
	wantRefusalPage(t, a.callback(&browser{binding: br.binding}, back), http.StatusBadRequest)
	// A second session of the same subject, by sid-less logout below.
	_, other := a.signIn(idp, "corp", "")

	for _, e := range []*env{a, b} {
		resp := e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(br.session))
		wantStatus(t, resp, 200)
		wantIdentity(t, resp, "dana", "staff,ops", "dana@corp.example", "Dana Scully")
	}
	wantStatus(t, a.backchannel("corp", idp.LogoutToken(dana.Subject, "")), 200)
	for name, e := range map[string]*env{"a": a, "b": b} {
		for _, c := range []*http.Cookie{br.session, other.session} {
			if got := e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(c)).StatusCode; got != 302 {
				t.Errorf("instance %s after back-channel logout on a: %d; want 302", name, got)
			}
		}
	}
}

// redisNodes turns host:port addresses into config nodes.
func redisNodes(addrs []string) []config.RedisNode {
	var out []config.RedisNode
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			panic(err)
		}
		p, _ := strconv.Atoi(port)
		out = append(out, config.RedisNode{Host: host, Port: p})
	}
	return out
}

// A refusal is logged with its reason, and never with the code, the
// state or a token.
func TestOIDCRefusalLogged(t *testing.T) {
	idp := startIDP(t)
	logs := &strings.Builder{}
	e := newOIDCEnv(t, idp, func(c *config.OIDCProvider) { c.Allow.Groups = []string{"admins"} }, envOpts{logs: logs})
	b := &browser{}
	start := e.start(b, "corp", "")
	back := idp.Authorize(t, start.Header.Get("Location"))
	wantRefusalPage(t, e.callback(b, back), http.StatusForbidden)
	got := logs.String()
	if !strings.Contains(got, "allow.groups names none of the user's groups") {
		t.Errorf("log lacks the reason:\n%s", got)
	}
	for _, secret := range []string{back.Query().Get("code"), back.Query().Get("state"), b.binding.Value, idp.ClientSecret} {
		if strings.Contains(got, secret) {
			t.Errorf("log carries a code, state, binding or secret %q:\n%s", secret, got)
		}
	}
}

// A provider's unlinked user named like a users-file entry is refused at
// the callback, with the reason in the log; one signed in before the file
// had an entry of its name has no session from then on (every decision
// checks), and has it again once the entry is gone.
func TestOIDCNameOfAFileUser(t *testing.T) {
	idp := startIDP(t)
	logs := &strings.Builder{}
	e := newOIDCEnv(t, idp, nil, envOpts{logs: logs})

	idp.AddUser(with(dana, func(u *oidctest.User) { u.Username = "alice" }))
	resp, b := e.signIn(idp, "corp", "")
	wantRefusalPage(t, resp, http.StatusForbidden)
	if b.session != nil {
		t.Fatal("the refused sign-in set a session cookie")
	}
	if want := "the users file has an entry of this name; set link: user or link: email to take it"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}

	idp.AddUser(dana)
	_, b = e.signIn(idp, "corp", "")
	app := func() *http.Response {
		return e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(b.session))
	}
	wantStatus(t, app(), 200)
	for _, tt := range []struct {
		name  string
		users string
		want  int
	}{
		{"entry_added", testUsers(t) + userEntry("dana", cheapHash(t, "x"), "admins", false), 302},
		{"entry_disabled", testUsers(t) + userEntry("dana", cheapHash(t, "x"), "admins", true), 302},
		{"entry_in_other_case", testUsers(t) + userEntry("DANA", cheapHash(t, "x"), "admins", false), 302},
		{"entry_gone", testUsers(t), 200},
	} {
		e.reloadUsers(tt.users)
		resp := app()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: forward-auth answers %d; want %d", tt.name, resp.StatusCode, tt.want)
		}
		if tt.want != 200 {
			wantNoIdentity(t, resp)
			page := e.do(withCookieReq(httptest.NewRequest("GET", portalURL+"/", nil), b.session))
			if strings.Contains(body(t, page), "Dana") {
				t.Errorf("%s: the portal shows the provider's dana signed in", tt.name)
			}
		}
	}
}

// withCookieReq is r with cookie c.
func withCookieReq(r *http.Request, c *http.Cookie) *http.Request {
	r.AddCookie(c)
	return r
}

// A provider user named admin never reaches a path for the users file's
// admin alone (subject user:admin): its sign-in is refused while the file
// has admin, and a session from before admin was added stops at once.
// With link: user, the sign-in takes the file's entry and reaches it.
func TestOIDCProviderAdminIsNotFileAdmin(t *testing.T) {
	const adminPass = "admin-password"
	rules := []config.Rule{
		{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/admin(/.*)?$"}, Subject: [][]string{{"user:admin"}}, Policy: "one_factor"},
		{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/admin(/.*)?$"}, Policy: "deny"},
		{Domain: config.StringList{"*.example.com"}, Policy: "one_factor"},
	}
	withAdmin := testUsers(t) + userEntry("admin", cheapHash(t, adminPass), "admins", false)
	provAdmin := with(dana, func(u *oidctest.User) { u.Username = "admin" })
	path := func(e *env, c *http.Cookie, uri string) int {
		return e.forwardAuth("GET", "https", "app.example.com", uri, withCookie(c)).StatusCode
	}

	// An application that ignores letter case would take Admin for
	// admin: the name is taken up to case.
	for _, name := range []string{"admin", "Admin", "ADMIN", "aDmIn"} {
		t.Run("unlinked_while_file_has_admin/"+name, func(t *testing.T) {
			idp := startIDP(t)
			idp.AddUser(with(dana, func(u *oidctest.User) { u.Username = name }))
			e := newOIDCEnv(t, idp, nil, envOpts{rules: rules, usersFile: withAdmin})
			// The control: the rule admits the file's admin.
			if got := path(e, e.mustLogin("admin", adminPass), "/admin"); got != 200 {
				t.Fatalf("the file's admin on /admin: %d; want 200", got)
			}
			resp, b := e.signIn(idp, "corp", "https://app.example.com/admin")
			wantRefusalPage(t, resp, http.StatusForbidden)
			if b.session != nil {
				t.Fatalf("the provider's %s got a session", name)
			}
		})
	}
	t.Run("unlinked_before_file_had_admin", func(t *testing.T) {
		idp := startIDP(t)
		idp.AddUser(provAdmin)
		e := newOIDCEnv(t, idp, nil, envOpts{rules: rules})
		_, b := e.signIn(idp, "corp", "")
		if got := path(e, b.session, "/"); got != 200 {
			t.Fatalf("the provider's admin on /: %d; want 200", got)
		}
		e.reloadUsers(withAdmin)
		for _, uri := range []string{"/admin", "/admin/x", "/"} {
			if got := path(e, b.session, uri); got != 302 {
				t.Errorf("the provider's admin on %s after the file got admin: %d; want 302", uri, got)
			}
		}
		if got := path(e, e.mustLogin("admin", adminPass), "/admin"); got != 200 {
			t.Errorf("the file's admin on /admin: %d; want 200", got)
		}
	})
	t.Run("link_user_takes_the_entry", func(t *testing.T) {
		idp := startIDP(t)
		idp.AddUser(provAdmin)
		e := newOIDCEnv(t, idp, func(c *config.OIDCProvider) { c.Link = config.LinkUser }, envOpts{rules: rules, usersFile: withAdmin})
		resp, b := e.signIn(idp, "corp", "")
		wantStatus(t, resp, 302)
		got := e.forwardAuth("GET", "https", "app.example.com", "/admin", withCookie(b.session))
		wantStatus(t, got, 200)
		wantIdentity(t, got, "admin", "admins", "", "")
	})
}

// With a SameSite=Strict session cookie, the callback (the end of a
// cross-site navigation) answers a page that moves on by itself, so that
// the next navigation is same-site and carries the cookie.
func TestOIDCStrictCookieMovesOnFromAPage(t *testing.T) {
	idp := startIDP(t)
	e := newOIDCEnv(t, idp, nil, envOpts{sameSite: http.SameSiteStrictMode})
	resp, b := e.signIn(idp, "corp", "https://app.example.com/x?a=1&b=2")
	wantStatus(t, resp, 200)
	if b.session == nil {
		t.Fatal("no session cookie")
	}
	page := body(t, resp)
	for _, want := range []string{`<meta http-equiv="refresh" content="0;url=https://app.example.com/x?a=1&amp;b=2">`, `href="https://app.example.com/x?a=1&amp;b=2"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(b.session)), 200)
}

// Each cookie domain's portal is its own redirect URI: a sign-in begun on
// example.org's portal returns there and signs in on example.org only, and
// an answer meant for one portal is refused at the other.
func TestOIDCCookieDomains(t *testing.T) {
	idp := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{
		comPortal + "/api/oidc/corp/callback", orgPortal + "/api/oidc/corp/callback"}})
	idp.AddUser(dana)
	idp.SignInAs(dana.Subject)
	e := newTwoDomainEnvOIDC(t, []config.OIDCProvider{providerConfig("corp", idp, nil)})
	e.discover()

	org := &browser{}
	start := e.startAt(org, orgPortal, "corp", "https://app.example.org/y")
	wantStatus(t, start, 302)
	auth, _ := url.Parse(start.Header.Get("Location"))
	if got, want := auth.Query().Get("redirect_uri"), orgPortal+"/api/oidc/corp/callback"; got != want {
		t.Fatalf("redirect_uri = %q; want %q", got, want)
	}
	back := idp.Authorize(t, start.Header.Get("Location"))
	cb := e.do(withBinding(httptest.NewRequest("GET", back.String(), nil), org))
	wantStatus(t, cb, 302)
	if got := cb.Header.Get("Location"); got != "https://app.example.org/y" {
		t.Errorf("Location = %q; want https://app.example.org/y", got)
	}
	var orgCookie *http.Cookie
	for _, c := range cb.Cookies() {
		if c.Name == "org_session" && c.Value != "" {
			orgCookie = c
		}
	}
	if orgCookie == nil {
		t.Fatal("the callback on example.org's portal set no org_session cookie")
	}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.org", "/", withCookie(orgCookie)), 200)
	com := &http.Cookie{Name: "gate_session", Value: orgCookie.Value}
	wantStatus(t, e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(com)), 302)

	// An answer for example.org's portal brought to example.com's.
	b := &browser{}
	start = e.startAt(b, orgPortal, "corp", "")
	back = idp.Authorize(t, start.Header.Get("Location"))
	moved, _ := url.Parse(comPortal + "/api/oidc/corp/callback?" + back.RawQuery)
	wantRefusalPage(t, e.do(withBinding(httptest.NewRequest("GET", moved.String(), nil), b)), http.StatusBadRequest)
}

func withBinding(r *http.Request, b *browser) *http.Request {
	if b.binding != nil {
		r.AddCookie(b.binding)
	}
	return r
}

// newTwoDomainEnvOIDC is newTwoDomainEnv with providers.
func newTwoDomainEnvOIDC(t testing.TB, providers []config.OIDCProvider) *env {
	t.Helper()
	return newSitesEnvWith(t, []siteSpec{
		{name: "gate_session", domain: "example.com", portal: comPortal, defaultRD: "https://www.example.com/",
			expiration: time.Hour, inactivity: 5 * time.Minute, rememberMe: 24 * time.Hour},
		{name: "org_session", domain: "example.org", portal: orgPortal,
			expiration: 2 * time.Hour, inactivity: 10 * time.Minute, rememberMe: -time.Second},
	}, nil, providers)
}

// Sign-ins through providers are counted by provider and result.
func TestOIDCMetrics(t *testing.T) {
	idp := startIDP(t)
	e := newOIDCEnv(t, idp, nil, envOpts{})
	e.signIn(idp, "corp", "")
	idp.Deny(true)
	e.signIn(idp, "corp", "")
	e.callback(&browser{}, &url.URL{Scheme: "https", Host: "auth.example.com", Path: "/api/oidc/corp/callback", RawQuery: "state=x&code=y"})
	b := body(t, e.do(httptest.NewRequest("GET", "/metrics", nil)))
	for _, want := range []string{
		`gate_oidc_logins_total{provider="corp",result="success"} 1`,
		`gate_oidc_logins_total{provider="corp",result="refused"} 1`,
		`gate_oidc_logins_total{provider="corp",result="bad_state"} 1`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Callbacks racing with one state: exactly one signs in.
func TestOIDCConcurrentCallbacks(t *testing.T) {
	idp := startIDP(t)
	e := newOIDCEnv(t, idp, nil, envOpts{})
	b := &browser{}
	start := e.start(b, "corp", "")
	back := idp.Authorize(t, start.Header.Get("Location"))
	codes := make(chan int, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			r := httptest.NewRequest("GET", back.String(), nil)
			r.AddCookie(b.binding)
			r.RemoteAddr = "127.0.0.1:40000"
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, r)
			codes <- rec.Code
		})
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusFound] != 1 || got[http.StatusBadRequest] != 7 {
		t.Errorf("answers = %v; want one 302 and seven 400", got)
	}
}

// The flow state is sealed in Redis: the stored record shows neither the
// destination nor the nonce, and a record altered, planted, or moved from
// another sign-in's key is an unknown state (400, the portal's page),
// while an untouched one signs in.
func TestOIDCStateSealedInRedis(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	cfg := redisConfig(srv)
	admin := srv.Admin()
	ctx := context.Background()
	idp := startIDP(t)
	e := newRedisGateOIDC(t, cfg, writeRedisUsers(t), nil, []config.OIDCProvider{providerConfig("corp", idp, nil)})
	e.discover()

	// begin starts a sign-in in browser b and returns the provider's
	// answer, the Redis key of its state and the nonce it sent.
	begin := func(t *testing.T, b *browser, rd string) (*url.URL, string, string) {
		t.Helper()
		before, err := admin.Keys(ctx, cfg.StatePrefix+"oidc:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		start := e.start(b, "corp", rd)
		wantStatus(t, start, 302)
		auth, err := url.Parse(start.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		back := idp.Authorize(t, auth.String())
		after, err := admin.Keys(ctx, cfg.StatePrefix+"oidc:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range after {
			if !slices.Contains(before, k) {
				return back, k, auth.Query().Get("nonce")
			}
		}
		t.Fatalf("no new state key after a start; keys %v", after)
		return nil, "", ""
	}
	get := func(t *testing.T, key string) []byte {
		t.Helper()
		v, err := admin.Get(ctx, key).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	set := func(t *testing.T, key string, v []byte) {
		t.Helper()
		if err := admin.Set(ctx, key, v, redis.KeepTTL).Err(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("opaque_and_untouched_signs_in", func(t *testing.T) {
		const rd = "https://app.example.com/destination-of-this-sign-in"
		b := &browser{}
		back, key, nonce := begin(t, b, rd)
		v := get(t, key)
		for _, clear := range []string{"destination-of-this-sign-in", nonce} {
			if bytes.Contains(v, []byte(clear)) {
				t.Errorf("stored state holds %q in the clear", clear)
			}
		}
		if json.Valid(v) {
			t.Errorf("stored state is JSON: %s", v)
		}
		resp := e.callback(b, back)
		wantStatus(t, resp, 302)
		if got := resp.Header.Get("Location"); got != rd {
			t.Errorf("Location = %q; want %q", got, rd)
		}
	})
	tampered := []struct {
		name string
		edit func([]byte) []byte
	}{
		{"last_byte_flipped", func(v []byte) []byte { v[len(v)-1] ^= 1; return v }},
		{"nonce_flipped", func(v []byte) []byte { v[1] ^= 0x80; return v }},
		{"version_changed", func(v []byte) []byte { v[0]++; return v }},
		{"truncated", func(v []byte) []byte { return v[:len(v)/2] }},
		{"empty", func([]byte) []byte { return nil }},
		{"planted_plain_record", func([]byte) []byte {
			return []byte(`{"p":"corp","v":"verifier","n":"nonce","b":"x","r":"` + callbackURL + `"}`)
		}},
	}
	for _, tt := range tampered {
		t.Run(tt.name, func(t *testing.T) {
			b := &browser{}
			back, key, _ := begin(t, b, "")
			set(t, key, tt.edit(get(t, key)))
			wantRefusalPage(t, e.callback(b, back), http.StatusBadRequest)
		})
	}
	// Two sign-ins of one browser, so the binding matches either record:
	// only the seal tells them apart.
	t.Run("swapped", func(t *testing.T) {
		b := &browser{}
		back1, key1, _ := begin(t, b, "https://app.example.com/one")
		back2, key2, _ := begin(t, b, "https://app.example.com/two")
		v1, v2 := get(t, key1), get(t, key2)
		set(t, key1, v2)
		set(t, key2, v1)
		wantRefusalPage(t, e.callback(b, back1), http.StatusBadRequest)
		wantRefusalPage(t, e.callback(b, back2), http.StatusBadRequest)
	})
}

// startFrom begins a sign-in at the corp provider for client, as a
// trusted proxy forwards it.
func (e *env) startFrom(client string) *http.Response {
	e.t.Helper()
	r := httptest.NewRequest("GET", portalURL+"/api/oidc/corp/start?rd="+url.QueryEscape("https://app.example.com/"), nil)
	r.Header.Set("X-Forwarded-For", client)
	return e.do(r)
}

// Sign-in starts are bounded per client address, IPv6 by its /64: 30 a
// minute at once, then 429 with Retry-After and the portal's page, no
// binding cookie and no stored state; other addresses go on. On Redis the
// instances share the bound.
func TestOIDCStartLimit(t *testing.T) {
	tests := []struct {
		name string
		// gates are the instances starts go to in turn; states counts
		// the stored flow records (-1 where it cannot).
		setup func(t *testing.T, idp *oidctest.Provider) (gates []*env, states func() int, clock func(time.Duration))
	}{
		{"memory", func(t *testing.T, idp *oidctest.Provider) ([]*env, func() int, func(time.Duration)) {
			e := newOIDCEnv(t, idp, nil, envOpts{})
			return []*env{e}, func() int { return -1 }, e.clock.Advance
		}},
		{"redis_two_instances", func(t *testing.T, idp *oidctest.Provider) ([]*env, func() int, func(time.Duration)) {
			srv := redistest.StartServer(t, redistest.ServerOptions{})
			cfg := redisConfig(srv)
			users := writeRedisUsers(t)
			pc := []config.OIDCProvider{providerConfig("corp", idp, nil)}
			a, b := newRedisGateOIDC(t, cfg, users, nil, pc), newRedisGateOIDC(t, cfg, users, nil, pc)
			a.discover()
			b.discover()
			states := func() int {
				keys, err := srv.Admin().Keys(context.Background(), cfg.StatePrefix+"oidc:*").Result()
				if err != nil {
					t.Fatal(err)
				}
				return len(keys)
			}
			return []*env{a, b}, states, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gates, states, advance := tt.setup(t, startIDP(t))
			n := 0
			start := func(client string) *http.Response {
				n++
				return gates[n%len(gates)].startFrom(client)
			}
			admitted := 0
			burst := func(clients func(i int) string) {
				t.Helper()
				for i := range 30 {
					wantStatus(t, start(clients(i)), http.StatusFound)
					admitted++
				}
			}
			refused := func(client string) {
				t.Helper()
				resp := start(client)
				if got := resp.Header.Get("Retry-After"); got == "" || got == "0" {
					t.Errorf("%s over the limit: Retry-After %q; want whole seconds, at least 1", client, got)
				}
				for _, c := range resp.Cookies() {
					if strings.Contains(c.Name, "gate_oidc") {
						t.Errorf("%s over the limit got a binding cookie", client)
					}
				}
				wantRefusalPage(t, resp, http.StatusTooManyRequests)
			}

			burst(func(int) string { return "203.0.113.7" })
			refused("203.0.113.7")
			wantStatus(t, start("203.0.113.8"), http.StatusFound)
			admitted++
			// One /64 is one client, whatever its addresses.
			burst(func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) })
			refused("2001:db8:1:2:ffff::1")
			wantStatus(t, start("2001:db8:1:3::1"), http.StatusFound)
			admitted++
			if got := states(); got != -1 && got != admitted {
				t.Errorf("%d flow records stored; want %d, one per admitted start", got, admitted)
			}
			if advance != nil {
				// 30 a minute: one more every 2 s.
				advance(2 * time.Second)
				wantStatus(t, start("203.0.113.7"), http.StatusFound)
				refused("203.0.113.7")
			}
			var limited []string
			for _, g := range gates {
				limited = append(limited, metricValue(t, g, `gate_oidc_logins_total{provider="corp",result="rate_limited"}`))
			}
			if !slices.ContainsFunc(limited, func(v string) bool { return v != "" && v != "0" }) {
				t.Errorf("rate_limited metric = %q on the instances; want the refusals counted", limited)
			}
		})
	}
}

// Start counters that cannot be reached fail the start closed (503, no
// binding, nothing stored): one Redis outage must not lift the bound.
func TestOIDCStartLimitUnreachable(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	e := newOIDCEnv(t, startIDP(t), nil, envOpts{limiter: ratelimit.NewRedis(client, "gate:")})
	resp := e.startFrom("203.0.113.7")
	wantRefusalPage(t, resp, http.StatusServiceUnavailable)
	if len(resp.Cookies()) != 0 {
		t.Errorf("a start refused for want of its counter set cookies %v", resp.Cookies())
	}
}
