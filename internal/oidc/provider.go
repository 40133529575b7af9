package oidc

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"gate/internal/config"
	"gate/internal/users"
)

// Sentinel errors callers branch on.
var (
	// ErrNotReady: the provider's discovery has not answered yet; its
	// sign-in answers 503 until it does.
	ErrNotReady = errors.New("oidc: provider not reachable yet")
	// ErrBadState: the callback's state is unknown, expired, used
	// already, or was begun in another browser (400).
	ErrBadState = errors.New("oidc: invalid sign-in state")
	// ErrRefused: the provider answered but the sign-in is refused: the
	// user denied it, the ID token did not verify, a claim is missing, or
	// an allow list or link refuses the user (403). The log says which
	// (Refusal.Reason); the user sees a generic page.
	ErrRefused = errors.New("oidc: sign-in refused")
	// ErrProvider: the provider could not be reached or answered with an
	// error during the code exchange (502).
	ErrProvider = errors.New("oidc: provider error")
)

// Refusal is an ErrRefused with the reason for the log. Reasons never
// carry a token, a code or a secret.
type Refusal struct {
	Reason string
	Err    error
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return "oidc: sign-in refused: " + r.Reason + ": " + r.Err.Error()
	}
	return "oidc: sign-in refused: " + r.Reason
}

// Is makes errors.Is(err, ErrRefused) hold.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

func (r *Refusal) Unwrap() error { return r.Err }

func refused(reason string, err error) error { return &Refusal{Reason: reason, Err: err} }

// Directory is the users file as a link needs it; nil when there is none.
type Directory interface {
	// Entry and EntryByEmail include disabled users (users.File).
	Entry(name string) (users.User, bool)
	EntryByEmail(email string) (users.User, int)
	// NameTaken reports an entry of the name up to letter case.
	NameTaken(name string) bool
}

// Options are what every provider shares.
type Options struct {
	// States keeps sign-ins between start and callback.
	States StateStore
	// Key (keys.Set's OIDCState, at least 32 bytes) keys the names of
	// states and the browser binding.
	Key []byte
	// SealKey (keys.Set's OIDCStateCipher, 32 bytes) seals the stored
	// states: the store, Redis included, holds no verifier or nonce in
	// the clear.
	SealKey []byte
	// Users is the users file for link; nil when there is none.
	Users Directory
	// HTTPClient talks to the providers; default one with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock tokens are judged against; default time.Now.
	Now    func() time.Time
	Logger zerolog.Logger
	// Backoff bounds the waits between discovery attempts; default 1 s
	// doubling up to 1 min.
	MinBackoff, MaxBackoff time.Duration
}

// Provider is one configured provider. It is usable at once: until
// discovery answers, Start answers ErrNotReady.
type Provider struct {
	cfg    config.OIDCProvider
	opts   Options
	seal   cipher.AEAD
	client *http.Client
	now    func() time.Time
	log    zerolog.Logger
	// ready is nil until discovery has answered.
	ready atomic.Pointer[discovered]
}

// discovered is what discovery gave: the endpoints and the verifier.
type discovered struct {
	endpoint oauth2.Endpoint
	verifier *gooidc.IDTokenVerifier
}

// New builds a provider from its configuration, which config has
// validated. It does no I/O; Run does discovery.
func New(cfg config.OIDCProvider, opts Options) (*Provider, error) {
	if !config.ValidProviderID(cfg.ID) {
		return nil, fmt.Errorf("oidc: invalid provider id %q", cfg.ID)
	}
	if _, err := config.ParseIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("oidc: provider %s: issuer: %w", cfg.ID, err)
	}
	if opts.States == nil {
		return nil, errors.New("oidc: a state store is required")
	}
	if len(opts.Key) < 32 {
		return nil, errors.New("oidc: a state key of at least 32 bytes is required")
	}
	if (cfg.Link == config.LinkEmail || cfg.Link == config.LinkUser) && opts.Users == nil {
		return nil, fmt.Errorf("oidc: provider %s: link needs a users file", cfg.ID)
	}
	seal, err := newSealer(opts.SealKey)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, opts: opts, seal: seal, client: opts.HTTPClient, now: opts.Now}
	if p.client == nil {
		p.client = &http.Client{Timeout: 10 * time.Second}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.opts.MinBackoff <= 0 {
		p.opts.MinBackoff = time.Second
	}
	if p.opts.MaxBackoff < p.opts.MinBackoff {
		p.opts.MaxBackoff = max(time.Minute, p.opts.MinBackoff)
	}
	p.log = opts.Logger.With().Str("provider", cfg.ID).Logger()
	return p, nil
}

// ID is the provider's id, as in its URLs.
func (p *Provider) ID() string { return p.cfg.ID }

// Name is the label of the provider's button.
func (p *Provider) Name() string { return p.cfg.Name }

// Ready reports whether discovery has answered.
func (p *Provider) Ready() bool { return p.ready.Load() != nil }

// Discover fetches the discovery document once. The issuer it names must
// be the configured one (go-oidc checks): a provider answering for
// another issuer is a mix-up.
func (p *Provider) Discover(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.client), 10*time.Second)
	defer cancel()
	prov, err := gooidc.NewProvider(dctx, p.cfg.Issuer)
	if err != nil {
		return fmt.Errorf("oidc: provider %s: discovery: %w", p.cfg.ID, err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := prov.Claims(&meta); err != nil || meta.JWKS == "" {
		return fmt.Errorf("oidc: provider %s: discovery names no jwks_uri", p.cfg.ID)
	}
	// go-oidc keeps this context to fetch the keys whenever they rotate:
	// it carries the client, and must not end with ctx.
	keySet := gooidc.NewRemoteKeySet(gooidc.ClientContext(context.WithoutCancel(ctx), p.keysClient()), meta.JWKS)
	verifier := gooidc.NewVerifier(p.cfg.Issuer, keySet, &gooidc.Config{ClientID: p.cfg.ClientID, Now: p.now})
	p.ready.Store(&discovered{endpoint: prov.Endpoint(), verifier: verifier})
	return nil
}

// Run does discovery until it answers or ctx ends, waiting between
// attempts with a doubling back-off; each failure is logged once per
// attempt.
func (p *Provider) Run(ctx context.Context) {
	wait := p.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		err := p.Discover(ctx)
		if err == nil {
			p.log.Info().Int("attempt", attempt).Msg("oidc provider discovered")
			return
		}
		p.log.Warn().Err(err).Int("attempt", attempt).Str("retry_in", wait.String()).
			Msg("oidc provider unreachable: its sign-in answers 503 until discovery succeeds")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, p.opts.MaxBackoff)
	}
}

// keysRefetch is the shortest time between two fetches of a provider's
// keys.
const keysRefetch = 10 * time.Second

// keysClient is the client the provider's keys are fetched with. go-oidc
// fetches them again for every token whose signature the cached keys do
// not verify (key rotation); without a bound, anyone posting forged
// logout tokens would make gate hammer the provider's JWKS endpoint.
func (p *Provider) keysClient() *http.Client {
	base := p.client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &http.Client{Timeout: p.client.Timeout, Transport: &throttled{base: base, every: keysRefetch, now: p.now}}
}

// throttled lets one request through per period; others fail at once.
type throttled struct {
	base  http.RoundTripper
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex
	last  time.Time
}

// errThrottled: a key fetch was asked for too soon after the last one.
var errThrottled = errors.New("oidc: provider keys fetched less than 10s ago")

func (t *throttled) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	now := t.now()
	if !t.last.IsZero() && now.Sub(t.last) < t.every {
		t.mu.Unlock()
		return nil, errThrottled
	}
	t.last = now
	t.mu.Unlock()
	return t.base.RoundTrip(r)
}

// oauth is the client's OAuth 2 configuration for one redirect URI.
func (p *Provider) oauth(d *discovered, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret,
		Endpoint:     d.endpoint,
		RedirectURL:  redirectURI,
		Scopes:       p.cfg.Scopes,
	}
}
