package users

import (
	"strings"
	"testing"
	"time"
)

// TestDummyShape checks that unknown users are verified against a hash of
// the slowest kind in the file (user enumeration by timing).
func TestDummyShape(t *testing.T) {
	a1, _ := hashArgon2id("a", 1024, 1, 1)
	a2, _ := hashArgon2id("b", 2048, 2, 1)
	bc := "$2y$05$" + strings.Repeat("a", 53)
	const (
		shapeA1 = "argon2id m=1024,t=1,p=1 salt=16 key=32"
		shapeA2 = "argon2id m=2048,t=2,p=1 salt=16 key=32"
		shapeBC = "bcrypt cost=05"
	)
	tests := []struct {
		name, content string
		// times are check times known before the file loads, by kind.
		times map[string]time.Duration
		want  string
	}{
		{"empty_file_uses_default", "users: {}\n", nil, "argon2id m=65536,t=3,p=4 salt=16 key=32"},
		{"one_kind", "users:\n  a: {password: '" + bc + "'}\n", nil, shapeBC},
		{"slowest_not_most_common", "users:\n  a: {password: '" + a1 + "'}\n  b: {password: '" + a2 + "'}\n  c: {password: '" + a1 + "'}\n",
			map[string]time.Duration{shapeA1: 5 * time.Millisecond, shapeA2: 9 * time.Millisecond}, shapeA2},
		{"bcrypt_slower_than_argon2id", "users:\n  a: {password: '" + a1 + "'}\n  b: {password: '" + bc + "'}\n",
			map[string]time.Duration{shapeA1: 5 * time.Millisecond, shapeBC: 20 * time.Millisecond}, shapeBC},
		{"argon2id_slower_than_bcrypt", "users:\n  a: {password: '" + a1 + "'}\n  b: {password: '" + bc + "'}\n",
			map[string]time.Duration{shapeA1: 30 * time.Millisecond, shapeBC: 20 * time.Millisecond}, shapeA1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parse("users.yml", []byte(tt.content))
			if err != nil {
				t.Fatal(err)
			}
			c := newChecker(1, 0, time.Second)
			for k, d := range tt.times {
				c.record(k, d)
			}
			if err := c.prepare(s); err != nil {
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

// TestPrepareTimesEveryKind: a file with two kinds has both timed when it
// loads, so that the first logins are already padded.
func TestPrepareTimesEveryKind(t *testing.T) {
	a1, _ := hashArgon2id("a", 1024, 1, 1)
	s, err := parse("users.yml", []byte("users:\n  a: {password: '"+a1+"'}\n  b: {password: '$2y$04$"+strings.Repeat("a", 53)+"'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(1, 0, time.Second)
	if err := c.prepare(s); err != nil {
		t.Fatal(err)
	}
	for k := range s.kinds {
		if kt := c.times[k]; kt == nil || kt.n != 1 {
			t.Errorf("kind %q: timed %v; want once", k, kt)
		}
	}
}
