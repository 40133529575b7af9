package oidc

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrBadLogoutToken: a back-channel logout token that does not verify
// (400, per OpenID Connect Back-Channel Logout 1.0).
var ErrBadLogoutToken = errors.New("oidc: invalid logout token")

// maxLogoutToken bounds the token we parse.
const maxLogoutToken = 16 << 10

// clockSkew is how far in the future a logout token's iat may lie.
const clockSkew = 5 * time.Minute

// Logout verifies a back-channel logout token as an ID token is verified
// (JWKS signature, iss, aud, exp) and as Back-Channel Logout 1.0 asks:
// the backchannel-logout event is present, a nonce is not (an ID token
// replayed as a logout token is refused), sub or sid is given, iat is not
// in the future. It returns the subject and sid whose sessions end.
func (p *Provider) Logout(ctx context.Context, raw string) (subject, sid string, err error) {
	d := p.ready.Load()
	if d == nil {
		return "", "", ErrNotReady
	}
	if raw == "" || len(raw) > maxLogoutToken {
		return "", "", fmt.Errorf("%w: missing or oversized", ErrBadLogoutToken)
	}
	lt, err := d.verifier.VerifyLogout(ctx, raw)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrBadLogoutToken, err)
	}
	if lt.IssuedAt.IsZero() || lt.IssuedAt.After(p.now().Add(clockSkew)) {
		return "", "", fmt.Errorf("%w: missing iat, or iat in the future", ErrBadLogoutToken)
	}
	return lt.Subject, lt.SessionID, nil
}
