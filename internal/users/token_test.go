package users_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/users"
)

func TestNewToken(t *testing.T) {
	tok, hash, err := users.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, users.TokenPrefix) || !users.ValidTokenShape(tok) {
		t.Errorf("token %q: want the gate_ shape", tok)
	}
	if got, want := len(tok), len("gate_")+43; got != want {
		t.Errorf("len(token) = %d; want %d (256 random bits)", got, want)
	}
	if got := users.TokenHash(tok); got != hash || !strings.HasPrefix(hash, "$sha256$") {
		t.Errorf("hash = %q; TokenHash = %q", hash, got)
	}
	other, _, _ := users.NewToken()
	if other == tok {
		t.Error("two tokens are equal")
	}
}

func TestAuthenticateToken(t *testing.T) {
	live, liveHash, _ := users.NewToken()
	expired, expiredHash, _ := users.NewToken()
	disabled, disabledHash, _ := users.NewToken()
	removed, _, _ := users.NewToken()
	content := fmt.Sprintf(`users:
  alice:
    password: '%s'
    groups: [dev]
    tokens:
      - {name: deploy, hash: '%s', expires: 2027-03-01}
      - {name: old, hash: '%s', expires: '2026-01-01T00:00:00Z'}
  bob:
    password: '%s'
    disabled: true
    tokens:
      - {name: ci, hash: '%s'}
`, cheapHash(t, "a"), liveHash, expiredHash, cheapHash(t, "b"), disabledHash)
	f, _ := open(t, content, false)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

	u, err := f.AuthenticateToken(live, now)
	if err != nil || u.Name != "alice" || u.GroupList() != "dev" {
		t.Errorf("live token: got %q, %v; want alice with groups", u.Name, err)
	}
	tests := []struct {
		name  string
		token string
		now   time.Time
		want  error
	}{
		{"ends_with_expires", live, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), users.ErrInvalidCredentials},
		{"expired", expired, now, users.ErrInvalidCredentials},
		{"disabled_user", disabled, now, users.ErrInvalidCredentials},
		{"not_in_file", removed, now, users.ErrInvalidCredentials},
		{"too_short", live[:len(live)-1], now, users.ErrTokenShape},
		{"too_long", live + "A", now, users.ErrTokenShape},
		{"bad_character", live[:10] + "+" + live[11:], now, users.ErrTokenShape},
		{"no_prefix", "gate-" + live[5:], now, users.ErrTokenShape},
		{"empty", "", now, users.ErrTokenShape},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.AuthenticateToken(tt.token, tt.now)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestTokensFileErrors(t *testing.T) {
	_, hash, _ := users.NewToken()
	pw := cheapHash(t, "a")
	tests := []struct {
		name, tokens, want string
	}{
		{"not_a_list", "tokens: yes", "users.alice.tokens"},
		{"missing_name", "tokens: [{hash: '" + hash + "'}]", "users.alice.tokens[0].name"},
		{"duplicate_name", "tokens: [{name: a, hash: '" + hash + "'}, {name: a, hash: '" + users.TokenHash("gate_x") + "'}]", "users.alice.tokens[1].name"},
		{"bad_hash", "tokens: [{name: a, hash: 'gate_plaintext'}]", "users.alice.tokens[0].hash"},
		{"upper_case_hash", "tokens: [{name: a, hash: '" + strings.ToUpper(hash) + "'}]", "users.alice.tokens[0].hash"},
		{"same_token_twice", "tokens: [{name: a, hash: '" + hash + "'}, {name: b, hash: '" + hash + "'}]", "users.alice.tokens[1].hash"},
		{"bad_expires", "tokens: [{name: a, hash: '" + hash + "', expires: soon}]", "users.alice.tokens[0].expires"},
		{"unknown_key", "tokens: [{name: a, hash: '" + hash + "', scope: all}]", "users.alice.tokens[0].scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := "users:\n  alice:\n    password: '" + pw + "'\n    " + tt.tokens + "\n"
			_, err := users.Open(writeFile(t, t.TempDir(), content), false, zerolog.Nop())
			if err == nil || !strings.Contains(err.Error(), tt.want+" ") && !strings.Contains(err.Error(), tt.want+":") {
				t.Fatalf("err = %v; want a problem at %s", err, tt.want)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(hash, "$sha256$")) {
				t.Errorf("error quotes the token hash: %v", err)
			}
		})
	}
}
