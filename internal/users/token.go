package users

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// API tokens (SPEC section 9). A token is "gate_" and 32 random bytes in
// unpadded base64url. The users file keeps only "$sha256$" and the hex
// SHA-256 of the whole token: 256 random bits need no slow hash, since no
// dictionary covers them, so a token is checked with one SHA-256 and a map
// lookup, not an argon2id check.
const (
	// TokenPrefix starts every gate token, so that gate can tell its own
	// bearer tokens from an application's, which pass through untouched.
	TokenPrefix = "gate_"
	tokenBytes  = 32
	tokenHashID = "$sha256$"
)

// tokenLen is the length of a well-formed token.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// ErrTokenShape is returned for a bearer value that starts with
// TokenPrefix but cannot be a gate token.
var ErrTokenShape = errors.New("users: malformed token")

// tokenKeys are the keys of one tokens entry.
var tokenKeys = []string{"name", "hash", "expires"}

// tokenEntry is one token of a snapshot.
type tokenEntry struct {
	user    string
	name    string
	expires time.Time // zero: no expiry
}

// NewToken returns a new random token and the hash to store for it.
func NewToken() (token, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("users: token randomness: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token), nil
}

// TokenHash is the users-file form of token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenHashID + hex.EncodeToString(sum[:])
}

// ValidTokenShape reports whether s has the exact shape NewToken makes.
func ValidTokenShape(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	for _, c := range s[len(TokenPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ParseTokenExpiry parses a token's expires: a date (2027-03-01, the
// token ends as that day begins, UTC) or an RFC 3339 time.
func ParseTokenExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("must be a date (2027-03-01) or an RFC 3339 time, got %q", s)
}

// AuthenticateToken returns the user a token authenticates as at now. A
// token of the wrong shape gives ErrTokenShape; an unknown or expired
// token, or one of a disabled user, gives ErrInvalidCredentials.
func (f *File) AuthenticateToken(token string, now time.Time) (User, error) {
	if !ValidTokenShape(token) {
		return User{}, ErrTokenShape
	}
	s := f.snap.Load()
	t, ok := s.tokens[TokenHash(token)]
	if !ok || (!t.expires.IsZero() && !now.Before(t.expires)) {
		return User{}, ErrInvalidCredentials
	}
	e, ok := s.users[t.user]
	if !ok || e.user.Disabled {
		return User{}, ErrInvalidCredentials
	}
	return e.user, nil
}

// parseTokens parses the tokens list of user name into s.tokens.
func parseTokens(errs *problems, key, name string, n yaml.Node, into map[string]tokenEntry) {
	list := resolve(&n)
	if list.Kind != yaml.SequenceNode {
		errs.add(key, lineOf(list), errors.New("must be a list of {name, hash, expires}"))
		return
	}
	names := map[string]bool{}
	for i, item := range list.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		var fields map[string]yaml.Node
		if err := resolve(item).Decode(&fields); err != nil {
			errs.add(ik, lineOf(item), errors.New("must be a map with name, hash and optional expires"))
			continue
		}
		for _, k := range sortedKeys(fields) {
			if !slices.Contains(tokenKeys, k) {
				v := fields[k]
				errs.add(ik+"."+k, lineOf(&v), errors.New("unknown key"))
			}
		}
		var t tokenEntry
		t.user = name
		stringField(errs, fields, ik, "name", &t.name)
		if t.name == "" {
			errs.add(ik+".name", lineOf(item), errors.New("missing"))
		} else if names[t.name] {
			errs.add(ik+".name", lineOf(item), fmt.Errorf("token %q is already defined for this user", t.name))
		}
		names[t.name] = true
		var hash string
		stringField(errs, fields, ik, "hash", &hash)
		// Never quote the hash: it is as good as a password hash.
		if !validTokenHash(hash) {
			errs.add(ik+".hash", lineOf(item), errors.New("must be $sha256$ and 64 hex digits, as gate token create prints"))
		} else if _, dup := into[hash]; dup {
			errs.add(ik+".hash", lineOf(item), errors.New("the same token is listed twice"))
		}
		var exp string
		if v, ok := fields["expires"]; ok {
			exp = resolve(&v).Value
			var err error
			if t.expires, err = ParseTokenExpiry(exp); err != nil {
				errs.add(ik+".expires", lineOf(&v), err)
			}
		}
		into[hash] = t
	}
}

func validTokenHash(h string) bool {
	hexPart, ok := strings.CutPrefix(h, tokenHashID)
	if !ok || len(hexPart) != 2*sha256.Size || strings.ToLower(hexPart) != hexPart {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}
