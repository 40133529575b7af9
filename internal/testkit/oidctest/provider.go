package oidctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	exstorage "github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Defaults of Config.
const (
	DefaultClientID     = "gate"
	DefaultClientSecret = "gate-client-secret"
)

// password is every user's password at the provider; sign-ins complete by
// themselves, so no test types it.
const password = "pw"

// BackchannelLogoutEvent is the events member of a logout token.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Config configures Start; zero values take the defaults.
type Config struct {
	// ClientID and ClientSecret of the one client (a confidential web
	// client, client_secret_basic or _post).
	ClientID, ClientSecret string
	// RedirectURIs are the client's registered redirect URIs.
	RedirectURIs []string
	// Down starts the provider answering 503 everywhere (SetDown).
	Down bool
}

// User is a user at the provider.
type User struct {
	// Subject is the sub claim; it must be set and unique.
	Subject string
	// Username is preferred_username; empty leaves the claim out.
	Username      string
	Email         string
	EmailVerified bool
	// Name is the name claim; empty leaves it out.
	Name string
	// Claims are added to the ID token as given: groups as a list or one
	// string, sid, anything else.
	Claims map[string]any
}

// Provider is a running provider.
type Provider struct {
	// Issuer is the provider's issuer URL, http://127.0.0.1:<port>.
	Issuer       string
	ClientID     string
	ClientSecret string

	srv     *httptest.Server
	op      *op.Provider
	storage *storage
	key     *rsa.PrivateKey
	keyID   string
	down    atomic.Bool

	mu           sync.Mutex
	users        map[string]User // by subject
	signInAs     string
	deny         bool
	redirectURIs []string
	rewrite      func(claims map[string]any) string
}

// Start runs a provider until the test ends.
func Start(t testing.TB, cfg Config) *Provider {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = DefaultClientSecret
	}
	p := &Provider{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		users:        map[string]User{},
		redirectURIs: append([]string(nil), cfg.RedirectURIs...),
	}
	p.down.Store(cfg.Down)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidctest: listen: %v", err)
	}
	p.Issuer = "http://" + ln.Addr().String()

	clients := map[string]*exstorage.Client{cfg.ClientID: exstorage.WebClient(cfg.ClientID, cfg.ClientSecret)}
	p.storage = &storage{Storage: exstorage.NewStorageWithClients(userStore{p}, clients), kit: p}
	sk, err := p.storage.SigningKey(context.Background())
	if err != nil {
		t.Fatalf("oidctest: signing key: %v", err)
	}
	p.key, p.keyID = sk.Key().(*rsa.PrivateKey), sk.ID()

	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:                sha256.Sum256([]byte(rand.Text())),
		DefaultLogoutRedirectURI: "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		SupportedUILocales:       []language.Tag{language.English},
	}, p.storage, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("oidctest: provider: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/login/username", op.NewIssuerInterceptor(p.op.IssuerFromRequest).HandlerFunc(p.login))
	mux.Handle("/", p.op)
	p.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: p.serve(mux), ReadHeaderTimeout: 5 * time.Second}}
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// serve answers 503 while down and rewrites ID tokens on the token
// endpoint when asked to.
func (p *Provider) serve(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "provider down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		rewrite := p.rewrite
		p.mu.Unlock()
		if rewrite == nil || r.URL.Path != "/oauth/token" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var resp map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &resp) == nil {
			if raw, ok := resp["id_token"].(string); ok {
				if claims, err := Claims(raw); err == nil {
					resp["id_token"] = rewrite(claims)
					body, _ = json.Marshal(resp)
				}
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// AddUser adds or replaces a user.
func (p *Provider) AddUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[u.Subject] = u
}

// SignInAs makes the next authorization requests complete as the user with
// this subject, without a login page.
func (p *Provider) SignInAs(subject string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signInAs = subject
}

// Deny makes authorization requests answer error=access_denied (the user
// declined) while on.
func (p *Provider) Deny(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deny = on
}

// SetRedirectURIs replaces the client's registered redirect URIs.
func (p *Provider) SetRedirectURIs(uris ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirectURIs = append([]string(nil), uris...)
}

// RewriteIDTokens makes the token endpoint answer fn(claims) in place of
// each ID token it issues, claims being the real token's; nil stops it.
// fn typically changes claims and returns Sign(claims), or Tamper of it.
func (p *Provider) RewriteIDTokens(fn func(claims map[string]any) string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = fn
}

// SetDown makes every endpoint, discovery included, answer 503 while on.
func (p *Provider) SetDown(on bool) { p.down.Store(on) }

// Sign returns claims as a JWT signed with the provider's key: it verifies
// against the provider's JWKS.
func (p *Provider) Sign(claims map[string]any) string {
	return sign(p.key, p.keyID, claims)
}

// SignForeign returns claims signed with a fresh key under the provider's
// key id: a forgery whose signature does not verify.
func (p *Provider) SignForeign(claims map[string]any) string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return sign(k, p.keyID, claims)
}

// LogoutToken returns a valid back-channel logout token for subject and
// sid (either may be empty), for the client, signed with the provider's
// key.
func (p *Provider) LogoutToken(subject, sid string) string {
	return p.Sign(p.LogoutClaims(subject, sid))
}

// LogoutClaims are the claims of LogoutToken, for tests that change them.
func (p *Provider) LogoutClaims(subject, sid string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":    p.Issuer,
		"aud":    p.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    rand.Text(),
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
	if subject != "" {
		c["sub"] = subject
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

func sign(key *rsa.PrivateKey, kid string, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return s
}

// Claims returns the claims of a compact JWT without verifying it.
func Claims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("oidctest: not a compact JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("oidctest: payload: %w", err)
	}
	var c map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("oidctest: payload: %w", err)
	}
	return c, nil
}

// Tamper returns token with its payload replaced by claims and its
// signature kept: a token whose signature no longer matches.
func Tamper(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	payload, err := json.Marshal(claims)
	if err != nil || len(parts) != 3 {
		panic("oidctest: Tamper needs a compact JWT and marshalable claims")
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
}

// login completes the provider's login step of an authorization request by
// itself: as the SignInAs user, or with error=access_denied under Deny.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	p.mu.Lock()
	subject, deny := p.signInAs, p.deny
	p.mu.Unlock()
	if deny {
		req, err := p.storage.AuthRequestByID(r.Context(), id)
		if err != nil {
			http.Error(w, "unknown auth request", http.StatusBadRequest)
			return
		}
		q := url.Values{"error": {"access_denied"}, "state": {req.GetState()}}
		http.Redirect(w, r, req.GetRedirectURI()+"?"+q.Encode(), http.StatusFound)
		return
	}
	if err := p.storage.CheckUsernamePassword(subject, password, id); err != nil {
		http.Error(w, "oidctest: no SignInAs user: "+err.Error(), http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
}

// Authorize follows, as a browser would, the redirects from authURL (an
// authorization URL gate sent the browser to) through the provider, and
// returns where the provider sends the browser back: the client's
// redirect URI with code and state, or with error. It fails the test when
// the provider answers anything else.
func (p *Provider) Authorize(t testing.TB, authURL string) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := authURL
	for range 10 {
		resp, err := client.Get(next)
		if err != nil {
			t.Fatalf("oidctest: GET %s: %v", next, err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("oidctest: %s answered %s without a redirect", next, resp.Status)
		}
		if !strings.HasPrefix(loc.String(), p.Issuer+"/") {
			return loc
		}
		next = loc.String()
	}
	t.Fatalf("oidctest: too many redirects from %s", authURL)
	return nil
}

// storage is the example storage with the kit's client settings and
// extra ID token claims.
type storage struct {
	*exstorage.Storage
	kit *Provider
}

// GetClientByClientID answers the kit's client with its current redirect
// URIs.
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if id != s.kit.ClientID {
		return nil, fmt.Errorf("client not found")
	}
	s.kit.mu.Lock()
	uris := append([]string(nil), s.kit.redirectURIs...)
	s.kit.mu.Unlock()
	return client{exstorage.WebClient(s.kit.ClientID, s.kit.ClientSecret, uris...)}, nil
}

// SetUserinfoFromRequest adds the user's extra claims to the ID token.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, token op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, token, scopes); err != nil {
		return err
	}
	s.kit.mu.Lock()
	u, ok := s.kit.users[token.GetSubject()]
	s.kit.mu.Unlock()
	if !ok {
		return fmt.Errorf("unknown user")
	}
	if u.Name == "" {
		ui.Name = ""
	} else {
		ui.Name = u.Name
	}
	ui.GivenName, ui.FamilyName = "", ""
	for k, v := range u.Claims {
		ui.AppendClaims(k, v)
	}
	return nil
}

// client is the example web client with the user's claims in its ID
// tokens (as most providers do) and any scope allowed.
type client struct{ *exstorage.Client }

func (client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (client) IsScopeAllowed(string) bool           { return true }

// userStore serves the kit's users to the example storage. Users are
// found by subject, which is also their login name at the provider.
type userStore struct{ p *Provider }

func (u userStore) GetUserByID(id string) *exstorage.User { return u.GetUserByUsername(id) }

func (u userStore) GetUserByUsername(subject string) *exstorage.User {
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	v, ok := u.p.users[subject]
	if !ok {
		return nil
	}
	return &exstorage.User{
		ID: v.Subject, Username: v.Username, Password: password,
		Email: v.Email, EmailVerified: v.EmailVerified, PreferredLanguage: language.English,
	}
}

func (userStore) ExampleClientID() string { return "service" }
