package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/users"
)

// TestTokenCreate adds the printed entry to a users file and
// authenticates with the printed token, which appears nowhere else.
func TestTokenCreate(t *testing.T) {
	r := runGate(t, context.Background(), nil, "", "token", "create", "--user", "alice", "--name", "deploy", "--expires", "2030-01-02")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "token: gate_") || !strings.HasPrefix(lines[2], "- {name: 'deploy'") {
		t.Fatalf("stdout = %q; want the token, a comment and the entry", r.stdout)
	}
	token := strings.TrimPrefix(lines[0], "token: ")
	if strings.Contains(lines[2], token) {
		t.Fatalf("the entry %q holds the token itself", lines[2])
	}
	hash, err := users.HashPassword("pw", "bcrypt")
	if err != nil {
		t.Fatal(err)
	}
	file := "users:\n  alice:\n    password: '" + hash + "'\n    tokens:\n      " + lines[2] + "\n"
	path := filepath.Join(t.TempDir(), "users.yml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	dir, err := users.Open(path, false, zerolog.Nop())
	if err != nil {
		t.Fatalf("the printed entry does not load: %v", err)
	}
	defer dir.Close()
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"before_expiry", time.Date(2030, 1, 1, 23, 0, 0, 0, time.UTC), true},
		{"at_expiry", time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		u, err := dir.AuthenticateToken(token, tt.now)
		if got := err == nil && u.Name == "alice"; got != tt.ok {
			t.Errorf("%s: got %q, %v; want ok %v", tt.name, u.Name, err, tt.ok)
		}
	}
}
