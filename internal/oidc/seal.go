package oidc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
)

// errSealed: a stored state that does not open under the state cipher
// with its key name, or does not decode once opened.
var errSealed = errors.New("oidc: state record does not open")

// sealVersion starts every sealed record, so that a later format can be
// told apart (and an older one refused) without guessing.
const sealVersion byte = 1

// newSealer is AES-256-GCM under key (keys.Set's OIDCStateCipher).
func newSealer(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("oidc: a state cipher key of 32 bytes is required")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("oidc: state cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("oidc: state cipher: %w", err)
	}
	return aead, nil
}

// sealAD is the associated data of a record stored under key: its version
// and the key name. A record copied to another state's key (a swap by
// someone who can write the store, to give a callback another sign-in's
// verifier, nonce or destination) does not open there.
func sealAD(key string) []byte {
	ad := make([]byte, 0, 1+len(key))
	ad = append(ad, sealVersion)
	return append(ad, key...)
}

// sealRecord is rec as stored under key: version, random nonce, then the
// AES-GCM sealed JSON. The store sees none of the PKCE verifier, the
// nonce, the destination or the binding hash.
func (p *Provider) sealRecord(rec stateRecord, key string) ([]byte, error) {
	plain, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("oidc: encode state: %w", err)
	}
	ns := p.seal.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+p.seal.Overhead())
	out[0] = sealVersion
	nonce := out[1 : 1+ns]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("oidc: state nonce: %w", err)
	}
	return p.seal.Seal(out, nonce, plain, sealAD(key)), nil
}

// openRecord opens a record stored under key; errSealed when it was not
// sealed by this key for this key name, or was altered.
func (p *Provider) openRecord(v []byte, key string) (*stateRecord, error) {
	ns := p.seal.NonceSize()
	if len(v) < 1+ns+p.seal.Overhead() || v[0] != sealVersion {
		return nil, errSealed
	}
	plain, err := p.seal.Open(nil, v[1:1+ns], v[1+ns:], sealAD(key))
	if err != nil {
		return nil, errSealed
	}
	var rec stateRecord
	if err := json.Unmarshal(plain, &rec); err != nil {
		return nil, errSealed
	}
	return &rec, nil
}
