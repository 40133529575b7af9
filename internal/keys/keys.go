package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// Set is every key gate uses, each derived from session.secret for one
// purpose. cmd/gate derives it once and hands each constructor the bytes
// it needs; no other package sees the secret.
type Set struct {
	// CookieHash (64 bytes) signs and CookieBlock (32 bytes, AES-256)
	// encrypts the session cookie.
	CookieHash, CookieBlock []byte
	// RecordCipher (32 bytes, AES-256-GCM) seals session records at rest.
	RecordCipher []byte
	// KeyHash (32 bytes) keys the HMAC that names a user's keys in the
	// store: key names carry no identity.
	KeyHash []byte
	// Regulation (32 bytes) keys the HMAC that names regulation counters.
	Regulation []byte
	// Credentials (32 bytes) keys the HMAC that names verified Basic
	// credentials in the credential cache.
	Credentials []byte
	// RateLimit (32 bytes) keys the HMAC that names rate-limit counters.
	RateLimit []byte
	// OIDCState (32 bytes) keys the HMAC that names an OpenID Connect
	// sign-in's stored state and binds it to the browser that began it.
	OIDCState []byte
	// OIDCStateCipher (32 bytes, AES-256-GCM) seals an OpenID Connect
	// sign-in's stored state (PKCE verifier, nonce, destination).
	OIDCStateCipher []byte
}

// Purposes: each label yields an independent key. Changing one ends what
// it protects (every cookie, every stored session, every counter).
const (
	cookieHash   = "gate cookie hmac v1"
	cookieBlock  = "gate cookie aes v1"
	recordCipher = "gate session record aes-gcm v1"
	keyHash      = "gate store key hmac v1"
	regulation   = "gate regulation key hmac v1"
	credentials  = "gate credential cache hmac v1"
	rateLimit    = "gate rate limit key hmac v1"
	oidcState    = "gate oidc state hmac v1"
	oidcCipher   = "gate oidc state aes-gcm v1"
)

// FromSecret derives the Set from secret with HKDF-SHA256.
func FromSecret(secret string) (Set, error) {
	var s Set
	for _, k := range []struct {
		dst     *[]byte
		purpose string
		n       int
	}{
		{&s.CookieHash, cookieHash, 64},
		{&s.CookieBlock, cookieBlock, 32},
		{&s.RecordCipher, recordCipher, 32},
		{&s.KeyHash, keyHash, 32},
		{&s.Regulation, regulation, 32},
		{&s.Credentials, credentials, 32},
		{&s.RateLimit, rateLimit, 32},
		{&s.OIDCState, oidcState, 32},
		{&s.OIDCStateCipher, oidcCipher, 32},
	} {
		b, err := hkdf.Key(sha256.New, []byte(secret), nil, k.purpose, k.n)
		if err != nil {
			return Set{}, fmt.Errorf("keys: derive %q: %w", k.purpose, err)
		}
		*k.dst = b
	}
	return s, nil
}
