package keys_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"

	"gate/internal/keys"
)

// The derivation is part of the stored state: a changed label or length
// would end every cookie and every stored session at the upgrade. These
// are the first bytes each purpose gets from one secret.
func TestFromSecretKnownAnswers(t *testing.T) {
	k, err := keys.FromSecret("a-session-secret-of-at-least-32-characters")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    []byte
		length int
		prefix string
	}{
		{"cookie_hash", k.CookieHash, 64, "48a56b48cb4437da"},
		{"cookie_block", k.CookieBlock, 32, "9e764ad3af634c20"},
		{"record_cipher", k.RecordCipher, 32, "bfca23bce3ce07d7"},
		{"key_hash", k.KeyHash, 32, "f40437cc13467d9a"},
		{"regulation", k.Regulation, 32, "c19e424fcedfb09e"},
		{"credentials", k.Credentials, 32, "9179a26c88b0a7b6"},
		{"rate_limit", k.RateLimit, 32, "3bdc20ae1fe66da2"},
		{"oidc_state", k.OIDCState, 32, "225c5d4260050334"},
		{"oidc_state_cipher", k.OIDCStateCipher, 32, "a51ae5a3894c155a"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.key[:8]); len(tt.key) != tt.length || got != tt.prefix {
			t.Errorf("%s: %d bytes starting %s; want %d starting %s", tt.name, len(tt.key), got, tt.length, tt.prefix)
		}
		for _, other := range tests {
			if other.name != tt.name && bytes.Equal(other.key[:32], tt.key[:32]) {
				t.Errorf("%s and %s share a key", tt.name, other.name)
			}
		}
	}
	other, err := keys.FromSecret("another-secret-of-at-least-32-characters")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.CookieHash, k.CookieHash) {
		t.Error("two secrets gave one cookie key")
	}
}

// TestMAC: the pooled MAC is HMAC-SHA256 of the NUL-joined parts, the
// same on every call and from many goroutines at once.
func TestMAC(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	want := func(msg string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return hex.EncodeToString(m.Sum(nil))
	}
	mac := keys.NewMAC(key)
	tests := []struct {
		parts []string
		msg   string
	}{
		{nil, ""},
		{[]string{"alice"}, "alice"},
		{[]string{"alice", "pw", "stamp"}, "alice\x00pw\x00stamp"},
		{[]string{"", ""}, "\x00"},
	}
	for _, tt := range tests {
		if got := mac.Hex(tt.parts...); got != want(tt.msg) {
			t.Errorf("Hex(%q) = %s; want %s", tt.parts, got, want(tt.msg))
		}
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				if got := mac.Hex("user", fmt.Sprint(i)); got != want("user\x00"+fmt.Sprint(i)) {
					t.Errorf("concurrent Hex: wrong sum for %d", i)
					return
				}
			}
		})
	}
	wg.Wait()
	if raceEnabled {
		return
	}
	fresh := keys.NewMAC(key)
	if n := testing.AllocsPerRun(100, func() { fresh.Hex("alice", "pw", "stamp") }); n > 1 {
		t.Errorf("Hex allocates %v times; want at most 1 (the string)", n)
	}
}
