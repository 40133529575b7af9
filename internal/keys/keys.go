package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// Purposes; each label yields an independent key.
const (
	CookieHash    = "gate cookie hmac v1"
	CookieBlock   = "gate cookie aes v1"
	RecordCipher  = "gate session record aes-gcm v1"
	KeyHash       = "gate store key hmac v1"
	RegulationKey = "gate regulation key hmac v1"
)

// Derive returns n bytes of key material for purpose, derived from secret
// with HKDF-SHA256.
func Derive(secret, purpose string, n int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, []byte(secret), nil, purpose, n)
	if err != nil {
		return nil, fmt.Errorf("derive %q key: %w", purpose, err)
	}
	return k, nil
}
