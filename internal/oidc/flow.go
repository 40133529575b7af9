package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gate/internal/users"
)

// stateRecord is what the store keeps of a sign-in between start and
// callback. It is stored under a keyed hash of the state, so the state
// itself, which travels through the browser and the provider, is not in
// the store, and sealed (sealRecord), so nor is any of this.
type stateRecord struct {
	Provider string `json:"p"`
	// Verifier is the PKCE code verifier; the provider got its S256
	// challenge.
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	// RD is the validated destination after the sign-in.
	RD string `json:"rd,omitempty"`
	// Browser is a keyed hash of the browser's binding cookie.
	Browser string `json:"b"`
	// RedirectURI is the callback URL the provider was given: the portal
	// of the cookie domain the sign-in began on.
	RedirectURI string `json:"r"`
}

// Result is a sign-in the provider vouched for and gate admits.
type Result struct {
	// User is who the session is for: the provider's identity, or the
	// users-file entry it is linked to (Linked).
	User   users.User
	Linked bool
	// Subject and SID are the ID token's sub and sid (SID may be empty).
	Subject, SID string
	// RD is the destination the sign-in began with, validated then.
	RD string
}

// maxState bounds the state parameter we look up; ours are 43 characters.
const maxState = 128

// randomToken is 256 random bits, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("oidc: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewBrowserBinding returns a fresh value for the browser's binding cookie.
func NewBrowserBinding() (string, error) { return randomToken() }

// keyed is the base64url HMAC of label and v under the state key.
func (p *Provider) keyed(label, v string) string {
	m := hmac.New(sha256.New, p.opts.Key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Start begins a sign-in: it stores the flow's state for StateTTL and
// returns the provider's authorization URL (code flow, PKCE S256, state,
// nonce). redirectURI is the callback on the request's portal; rd the
// destination, already validated for that cookie domain; browser the value
// of the browser's binding cookie, which the callback must present again.
func (p *Provider) Start(ctx context.Context, redirectURI, rd, browser string) (string, error) {
	d := p.ready.Load()
	if d == nil {
		return "", ErrNotReady
	}
	state, err := randomToken()
	if err != nil {
		return "", err
	}
	nonce, err := randomToken()
	if err != nil {
		return "", err
	}
	rec := stateRecord{
		Provider:    p.cfg.ID,
		Verifier:    oauth2.GenerateVerifier(),
		Nonce:       nonce,
		RD:          rd,
		Browser:     p.keyed("browser", browser),
		RedirectURI: redirectURI,
	}
	key := p.keyed("state", state)
	v, err := p.sealRecord(rec, key)
	if err != nil {
		return "", err
	}
	if err := p.opts.States.Put(ctx, key, v, StateTTL); err != nil {
		return "", fmt.Errorf("oidc: store state: %w", err)
	}
	return p.oauth(d, redirectURI).AuthCodeURL(state,
		oauth2.S256ChallengeOption(rec.Verifier), gooidc.Nonce(nonce)), nil
}

// Finish completes a sign-in from the callback's query. It takes the state
// first, so a state is used once whatever follows (a replayed callback
// finds nothing), then checks that this browser began it on this portal,
// exchanges the code with the PKCE verifier, verifies the ID token and its
// nonce, and maps the claims to a user. Errors: ErrBadState,
// ErrNotReady, ErrProvider, a *Refusal (ErrRefused), or a store failure.
func (p *Provider) Finish(ctx context.Context, q url.Values, redirectURI, browser string) (*Result, error) {
	// A parameter given twice may be read one way here and another way by
	// a proxy or the provider: refused.
	for _, k := range []string{"state", "code", "error"} {
		if len(q[k]) > 1 {
			return nil, fmt.Errorf("%w: repeated %s", ErrBadState, k)
		}
	}
	rec, err := p.takeState(ctx, q.Get("state"))
	if err != nil {
		return nil, err
	}
	// Login CSRF: a callback carrying a state begun in another browser
	// (an attacker's own sign-in, sent to the victim) would sign the
	// victim in as the attacker.
	if subtle.ConstantTimeCompare([]byte(rec.Browser), []byte(p.keyed("browser", browser))) != 1 {
		return nil, fmt.Errorf("%w: begun in another browser", ErrBadState)
	}
	// A state begun at another provider (the iss mix-up attack) or on
	// another portal is not this callback's.
	if rec.Provider != p.cfg.ID || rec.RedirectURI != redirectURI {
		return nil, fmt.Errorf("%w: begun for another provider or portal", ErrBadState)
	}
	if e := q.Get("error"); e != "" {
		return nil, refused("the provider answered error="+printable(e, 40), nil)
	}
	code := q.Get("code")
	if code == "" {
		return nil, refused("the callback carries no code", nil)
	}
	d := p.ready.Load()
	if d == nil {
		return nil, ErrNotReady
	}
	tok, err := p.oauth(d, redirectURI).Exchange(gooidc.ClientContext(ctx, p.client), code, oauth2.VerifierOption(rec.Verifier))
	if err != nil {
		return nil, fmt.Errorf("%w: code exchange: %s", ErrProvider, exchangeReason(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, refused("the token answer carries no id_token", nil)
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, refused("the ID token does not verify", err)
	}
	// The nonce ties the ID token to this sign-in: a token issued for
	// another one (replayed or injected) is refused.
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(rec.Nonce)) != 1 {
		return nil, refused("the ID token's nonce is not this sign-in's", nil)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, refused("the ID token's claims do not decode", err)
	}
	// With several audiences, the token must have been issued to us.
	if len(idt.Audience) > 1 {
		if azp, _ := claims["azp"].(string); azp != p.cfg.ClientID {
			return nil, refused("the ID token has several audiences and another authorized party", nil)
		}
	}
	res, err := p.admit(identityOf(idt.Subject, claims, p.cfg.Claims))
	if err != nil {
		return nil, err
	}
	res.RD = rec.RD
	return res, nil
}

// takeState takes the state's record from the store, once.
func (p *Provider) takeState(ctx context.Context, state string) (*stateRecord, error) {
	if state == "" || len(state) > maxState {
		return nil, fmt.Errorf("%w: missing or oversized state", ErrBadState)
	}
	key := p.keyed("state", state)
	v, err := p.opts.States.Take(ctx, key)
	if errors.Is(err, ErrStateNotFound) {
		return nil, fmt.Errorf("%w: unknown, expired or used state", ErrBadState)
	}
	if err != nil {
		return nil, err
	}
	rec, err := p.openRecord(v, key)
	if err != nil {
		// Written by someone without the key, altered, or moved from
		// another state's key: as good as unknown.
		return nil, fmt.Errorf("%w: unknown state (%w)", ErrBadState, err)
	}
	return rec, nil
}

// exchangeReason describes a failed exchange for the log: the provider's
// error code and status, never its body, which may echo the code.
func exchangeReason(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		reason := "token endpoint answered"
		if re.Response != nil {
			reason += " " + re.Response.Status
		}
		if re.ErrorCode != "" {
			reason += " error=" + printable(re.ErrorCode, 40)
		}
		return reason
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "token endpoint unreachable: " + ue.Err.Error()
	}
	return "token endpoint failed"
}

// printable keeps the first n bytes of s that are printable ASCII, for
// values from the query or the provider that go to the log.
func printable(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}
