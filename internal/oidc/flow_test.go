package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"gate/internal/config"
	"gate/internal/oidc"
	"gate/internal/testkit/oidctest"
)

const redirectURI = "https://auth.example.com/api/oidc/corp/callback"

// newProvider starts a real provider with one user and a gate provider
// discovered against it.
func newProvider(t *testing.T, edit func(*config.OIDCProvider)) (*oidc.Provider, *oidctest.Provider) {
	t.Helper()
	idp := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{redirectURI}})
	idp.AddUser(oidctest.User{Subject: "sub-alice", Username: "alice", Email: "alice@example.com", EmailVerified: true,
		Name: "Alice Smith", Claims: map[string]any{"groups": []string{"staff", "dev"}, "sid": "sid-1"}})
	idp.SignInAs("sub-alice")
	cfg := config.OIDCProvider{
		ID: "corp", Name: "Corp", Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		Scopes: []string{"openid", "profile", "email"},
		Claims: config.OIDCClaims{User: "preferred_username", Email: "email", Name: "name", Groups: "groups"},
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := oidc.New(cfg, oidc.Options{States: oidc.NewMemoryStates(0, nil), Key: make([]byte, 32), SealKey: make([]byte, 32), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p, idp
}

// signIn runs one sign-in in browser b and returns Finish's answer.
func signIn(t *testing.T, p *oidc.Provider, idp *oidctest.Provider, b string) (*oidc.Result, error) {
	t.Helper()
	ctx := context.Background()
	authURL, err := p.Start(ctx, redirectURI, "https://app.example.com/x", b)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	back := idp.Authorize(t, authURL)
	return p.Finish(ctx, back.Query(), redirectURI, b)
}

func TestFlow(t *testing.T) {
	p, idp := newProvider(t, nil)
	res, err := signIn(t, p, idp, "browser-1")
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if got, want := res.User.Name, "alice"; got != want {
		t.Errorf("user = %q; want %q", got, want)
	}
	if res.Subject != "sub-alice" || res.SID != "sid-1" || res.RD != "https://app.example.com/x" {
		t.Errorf("subject, sid, rd = %q, %q, %q", res.Subject, res.SID, res.RD)
	}
	if got := res.User.Groups; len(got) != 2 || got[0] != "staff" {
		t.Errorf("groups = %q; want [staff dev]", got)
	}
	if res.User.Email != "alice@example.com" || res.User.DisplayName != "Alice Smith" {
		t.Errorf("email, name = %q, %q", res.User.Email, res.User.DisplayName)
	}
}

func TestFlowRefusals(t *testing.T) {
	p, idp := newProvider(t, nil)
	ctx := context.Background()

	t.Run("other_browser", func(t *testing.T) {
		authURL, err := p.Start(ctx, redirectURI, "", "browser-1")
		if err != nil {
			t.Fatal(err)
		}
		back := idp.Authorize(t, authURL)
		if _, err := p.Finish(ctx, back.Query(), redirectURI, "browser-2"); !errors.Is(err, oidc.ErrBadState) {
			t.Errorf("Finish from another browser = %v; want ErrBadState", err)
		}
	})
	t.Run("replayed_state", func(t *testing.T) {
		authURL, err := p.Start(ctx, redirectURI, "", "b")
		if err != nil {
			t.Fatal(err)
		}
		q := idp.Authorize(t, authURL).Query()
		if _, err := p.Finish(ctx, q, redirectURI, "b"); err != nil {
			t.Fatalf("first Finish: %v", err)
		}
		if _, err := p.Finish(ctx, q, redirectURI, "b"); !errors.Is(err, oidc.ErrBadState) {
			t.Errorf("replayed Finish = %v; want ErrBadState", err)
		}
	})
	t.Run("missing_state", func(t *testing.T) {
		if _, err := p.Finish(ctx, url.Values{"code": {"x"}}, redirectURI, "b"); !errors.Is(err, oidc.ErrBadState) {
			t.Errorf("Finish = %v; want ErrBadState", err)
		}
	})
}

// countingTransport counts the requests to each path.
type countingTransport struct {
	mu    sync.Mutex
	paths map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.paths[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[path]
}

// Forged logout tokens, which anyone may post, do not make gate fetch the
// provider's keys once each: at most once per 10 seconds.
func TestKeysFetchBounded(t *testing.T) {
	idp := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{redirectURI}})
	ct := &countingTransport{paths: map[string]int{}}
	p, err := oidc.New(config.OIDCProvider{ID: "corp", Name: "Corp", Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret},
		oidc.Options{States: oidc.NewMemoryStates(0, nil), Key: make([]byte, 32), SealKey: make([]byte, 32), HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Logout(context.Background(), idp.LogoutToken("sub", "")); err != nil {
		t.Fatalf("a valid logout token: %v", err)
	}
	for range 20 {
		if _, _, err := p.Logout(context.Background(), idp.SignForeign(idp.LogoutClaims("sub", ""))); !errors.Is(err, oidc.ErrBadLogoutToken) {
			t.Fatalf("forged logout token: %v; want ErrBadLogoutToken", err)
		}
	}
	if got := ct.count("/keys"); got != 1 {
		t.Errorf("keys fetched %d times for one valid and 20 forged tokens; want 1", got)
	}
	if _, _, err := p.Logout(context.Background(), idp.LogoutToken("sub", "")); err != nil {
		t.Errorf("a valid logout token after the forgeries: %v", err)
	}
}

// New refuses a provider without both keys at their length: its states
// would be stored unsealed, or named under a short key.
func TestNewNeedsKeys(t *testing.T) {
	cfg := config.OIDCProvider{ID: "corp", Name: "Corp", Issuer: "https://sso.example.net", ClientID: "gate", ClientSecret: "s"}
	k32 := make([]byte, 32)
	tests := []struct {
		name         string
		key, sealKey []byte
		wantErr      bool
	}{
		{"both", k32, k32, false},
		{"no_key", nil, k32, true},
		{"short_key", k32[:16], k32, true},
		{"no_seal_key", k32, nil, true},
		{"short_seal_key", k32, k32[:16], true},
		{"long_seal_key", k32, make([]byte, 64), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oidc.New(cfg, oidc.Options{States: oidc.NewMemoryStates(0, nil), Key: tt.key, SealKey: tt.sealKey})
			if got := err != nil; got != tt.wantErr {
				t.Errorf("New: %v; want error %v", err, tt.wantErr)
			}
		})
	}
}
