package users

import (
	"strings"
	"testing"
)

// TestDummyShape checks that unknown users are verified against a hash that
// costs what the file's own hashes cost (user enumeration by timing).
func TestDummyShape(t *testing.T) {
	a1, _ := hashArgon2id("a", 1024, 1, 1)
	a2, _ := hashArgon2id("b", 2048, 2, 1)
	tests := []struct {
		name, content, want string
	}{
		{"empty_file_uses_default", "users: {}\n", "argon2id m=65536,t=3,p=4 salt=16 key=32"},
		{"most_common_argon2", "users:\n  a: {password: '" + a1 + "'}\n  b: {password: '" + a2 + "'}\n  c: {password: '" + a2 + "'}\n", "argon2id m=2048,t=2,p=1 salt=16 key=32"},
		{"bcrypt", "users:\n  a: {password: '$2y$05$" + strings.Repeat("a", 53) + "'}\n", "bcrypt cost=05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parse("users.yml", []byte(tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.dummy.shape(); got != tt.want {
				t.Errorf("dummy shape = %q; want %q", got, tt.want)
			}
			if ok, err := s.dummy.verify("a"); ok || err != nil {
				t.Errorf("dummy.verify = %v, %v; want false, nil", ok, err)
			}
		})
	}
}
