package users_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"gate/internal/users"
)

// cheapHash hashes with argon2id parameters small enough for tests; the hash
// carries its own parameters, so verification honours them.
func cheapHash(tb testing.TB, password string) string {
	tb.Helper()
	h, err := users.HashArgon2id(password, 1024, 1, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// writeFile writes a users file into dir and returns its path.
func writeFile(tb testing.TB, dir, content string) string {
	tb.Helper()
	p := filepath.Join(dir, "users.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func goodFile(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf(`users:
  alice:
    displayname: 'Alice Smith'
    password: '%s'
    email: alice@example.com
    groups: [admins, dev]
  bob:
    displayname: Bob
    password: "%s"
    email: bob@example.com
    groups:
      - dev
    disabled: false
  carol:
    password: '%s'
    disabled: true
`, cheapHash(tb, "alice-pw"), cheapHash(tb, "bob-pw"), cheapHash(tb, "carol-pw"))
}

func open(tb testing.TB, content string, watch bool) (*users.File, string) {
	tb.Helper()
	p := writeFile(tb, tb.TempDir(), content)
	f, err := users.Open(p, watch, zerolog.Nop())
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { f.Close() })
	return f, p
}

func TestOpen_good(t *testing.T) {
	f, _ := open(t, goodFile(t), false)
	if got, want := f.Len(), 3; got != want {
		t.Errorf("Len = %d; want %d", got, want)
	}
	got, ok := f.Lookup("alice")
	if !ok {
		t.Fatal("Lookup(alice) = false; want true")
	}
	want := users.User{Name: "alice", DisplayName: "Alice Smith", Email: "alice@example.com", Groups: []string{"admins", "dev"}}
	if got.Name != want.Name || got.DisplayName != want.DisplayName || got.Email != want.Email || !slices.Equal(got.Groups, want.Groups) || got.Disabled {
		t.Errorf("Lookup(alice) = %+v; want %+v", got, want)
	}
	// Loaded users carry the list precomputed; a User built elsewhere
	// joins on demand.
	for _, u := range []users.User{got, want} {
		if g := u.GroupList(); g != "admins,dev" {
			t.Errorf("GroupList() of %+v = %q; want %q", u, g, "admins,dev")
		}
	}
	if g := (users.User{}).GroupList(); g != "" {
		t.Errorf("GroupList() without groups = %q; want empty", g)
	}
	if _, ok := f.Lookup("bob"); !ok {
		t.Error("Lookup(bob) = false; want true")
	}
	if _, ok := f.Lookup("carol"); ok {
		t.Error("Lookup(carol) = true for a disabled user; want false")
	}
	if _, ok := f.Lookup("mallory"); ok {
		t.Error("Lookup(mallory) = true for an unknown user; want false")
	}
	if _, ok := f.Lookup("Alice"); ok {
		t.Error("Lookup(Alice) = true; user names are matched exactly")
	}
}

func TestOpen_empty(t *testing.T) {
	f, _ := open(t, "users: {}\n", false)
	if got := f.Len(); got != 0 {
		t.Errorf("Len = %d; want 0", got)
	}
	_, err := f.Authenticate(context.Background(), "alice", "pw")
	if !errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("Authenticate on empty file: err = %v; want ErrInvalidCredentials", err)
	}
}

func TestOpen_anchors(t *testing.T) {
	h := cheapHash(t, "pw")
	f, _ := open(t, fmt.Sprintf(`users:
  alice: &base
    password: '%s'
    groups: [dev]
  bob:
    <<: *base
    email: bob@example.com
`, h), false)
	bob, ok := f.Lookup("bob")
	if !ok || !slices.Equal(bob.Groups, []string{"dev"}) || bob.Email != "bob@example.com" {
		t.Errorf("Lookup(bob) = %+v, %v; want groups [dev] from the merged anchor", bob, ok)
	}
}

// TestOpen_mergedUsers: a merge key among the user names themselves.
func TestOpen_mergedUsers(t *testing.T) {
	h := cheapHash(t, "pw")
	f, _ := open(t, fmt.Sprintf(`users:
  alice:
    password: '%s'
  <<: {bob: {password: '%s', groups: [dev]}}
`, h, h), false)
	if _, ok := f.Lookup("alice"); !ok {
		t.Error("alice missing")
	}
	if bob, ok := f.Lookup("bob"); !ok || !slices.Equal(bob.Groups, []string{"dev"}) {
		t.Errorf("Lookup(bob) = %+v, %v; want bob from the merged map", bob, ok)
	}
}

// BenchmarkOpenLarge loads a file of 100 000 users (the hashes are not
// verified on load).
func BenchmarkOpenLarge(b *testing.B) {
	h := cheapHash(b, "pw")
	var sb strings.Builder
	sb.WriteString("users:\n")
	for i := range 100_000 {
		fmt.Fprintf(&sb, "  user%d:\n    displayname: 'User %d'\n    email: user%d@example.com\n    groups: [staff, dev]\n    password: '%s'\n", i, i, i, h)
	}
	p := writeFile(b, b.TempDir(), sb.String())
	b.ResetTimer()
	for range b.N {
		f, err := users.Open(p, false, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		if f.Len() != 100_000 {
			b.Fatalf("Len = %d", f.Len())
		}
		f.Close()
	}
}

func TestOpen_errors(t *testing.T) {
	good := cheapHash(t, "pw")
	const plaintext = "hunter2-plain"
	argon2i := strings.Replace(good, "$argon2id$", "$argon2i$", 1)
	v16 := strings.Replace(good, "v=19", "v=16", 1)
	hugeMem := strings.Replace(good, "m=1024", "m=99999999", 1)
	badB64 := good[:len(good)-4] + "!!!!"
	tests := []struct {
		name    string
		content string
		want    string   // substring of the error
		secrets []string // must not appear in the error
	}{
		{"bad_yaml", "users:\n  alice: [\n", "line", nil},
		{"not_a_map", "- alice\n", "cannot unmarshal", nil},
		{"missing_users", "people: {}\n", "users: missing", nil},
		{"unknown_top_key", "users: {}\nextra: 1\n", "extra (line 2): unknown key", nil},
		{"unknown_user_key", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n    foo: bar\n", good), "users.alice.foo (line 4): unknown key", []string{good}},
		{"missing_password", "users:\n  alice:\n    email: a@example.com\n", "users.alice.password", nil},
		{"plaintext_password", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n", plaintext), "users.alice.password", []string{plaintext}},
		{"argon2i", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n", argon2i), "users.alice.password", []string{argon2i, good[30:]}},
		{"argon2_version", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n", v16), "v=19", []string{v16}},
		{"argon2_memory", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n", hugeMem), "m must be", []string{hugeMem}},
		{"argon2_base64", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n", badB64), "not base64", []string{badB64}},
		{"bcrypt_short", "users:\n  alice:\n    password: '$2y$10$tooshort'\n", "bcrypt", []string{"tooshort"}},
		{"password_map", "users:\n  alice:\n    password: {x: '$2y$10$secretpart'}\n", "users.alice.password", []string{"secretpart"}},
		{"user_scalar", fmt.Sprintf("users:\n  alice: '%s'\n", good), "users.alice", []string{good}},
		{"empty_user_name", fmt.Sprintf("users:\n  '':\n    password: '%s'\n", good), "user name must not be empty", nil},
		{"group_comma", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n    groups: ['a,b']\n", good), "users.alice.groups[0]", nil},
		{"groups_not_list", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n    groups: {a: 1}\n", good), "users.alice.groups", nil},
		{"disabled_not_bool", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n    disabled: maybe\n", good), "users.alice.disabled", nil},
		{"name_control", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n    displayname: \"a\\r\\nX-Evil: 1\"\n", good), "users.alice.displayname", nil},
		{"duplicate_user", fmt.Sprintf("users:\n  alice:\n    password: '%s'\n  alice:\n    password: '%s'\n", good, good), "users.alice (line 4): already defined at line 2", []string{good}},
		{"user_name_not_string", fmt.Sprintf("users:\n  [a, b]:\n    password: '%s'\n", good), "users (line 2): user names must be strings", []string{good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), tt.content)
			f, err := users.Open(p, false, zerolog.Nop())
			if err == nil {
				f.Close()
				t.Fatal("Open: err = nil; want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("err = %q; want it to contain %q", msg, tt.want)
			}
			if !strings.Contains(msg, p) {
				t.Errorf("err = %q; want it to name the file %q", msg, p)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("err = %q; want one line", msg)
			}
			for _, s := range tt.secrets {
				if strings.Contains(msg, s) {
					t.Errorf("err = %q; leaks %q", msg, s)
				}
			}
		})
	}
}

func TestOpen_missingFile(t *testing.T) {
	if _, err := users.Open(filepath.Join(t.TempDir(), "nope.yml"), false, zerolog.Nop()); err == nil {
		t.Error("Open of a missing file: err = nil; want an error")
	}
}

func TestOpen_reportsEveryProblem(t *testing.T) {
	p := writeFile(t, t.TempDir(), "users:\n  alice:\n    password: x\n  bob:\n    foo: 1\n")
	_, err := users.Open(p, false, zerolog.Nop())
	var pe *users.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v; want a *ParseError", err)
	}
	if got, want := len(pe.Problems), 3; got != want { // alice.password, bob.foo, bob.password
		t.Errorf("problems = %q; want %d", pe.Problems, want)
	}
}

func TestAuthenticate(t *testing.T) {
	f, _ := open(t, goodFile(t), false)
	tests := []struct {
		name, user, password string
		wantErr              error
	}{
		{"right", "alice", "alice-pw", nil},
		{"right_other_user", "bob", "bob-pw", nil},
		{"wrong_password", "alice", "bob-pw", users.ErrInvalidCredentials},
		{"empty_password", "alice", "", users.ErrInvalidCredentials},
		{"unknown_user", "mallory", "alice-pw", users.ErrInvalidCredentials},
		{"disabled_right_password", "carol", "carol-pw", users.ErrInvalidCredentials},
		{"disabled_wrong_password", "carol", "nope", users.ErrInvalidCredentials},
		{"case_differs", "Alice", "alice-pw", users.ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.Authenticate(context.Background(), tt.user, tt.password)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Authenticate(%q) err = %v; want %v", tt.user, err, tt.wantErr)
			}
			if tt.wantErr == nil && u.Name != tt.user {
				t.Errorf("user = %q; want %q", u.Name, tt.user)
			}
			if tt.wantErr != nil && err.Error() != users.ErrInvalidCredentials.Error() {
				t.Errorf("err = %q; want exactly %q, the same for every failure", err, users.ErrInvalidCredentials)
			}
		})
	}
}

func TestAuthenticate_canceled(t *testing.T) {
	f, _ := open(t, goodFile(t), false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A free verification slot may still be taken; either outcome is fine,
	// but a canceled context must never authenticate a wrong password.
	if _, err := f.Authenticate(ctx, "alice", "wrong"); err == nil {
		t.Error("Authenticate with a wrong password: err = nil")
	}
}

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

func TestHashPassword_argon2id(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB argon2id hashes in -short mode")
	}
	for _, alg := range []string{"", users.AlgorithmArgon2id} {
		h, err := users.HashPassword("correct horse", alg)
		if err != nil {
			t.Fatalf("HashPassword(%q): %v", alg, err)
		}
		if !phc.MatchString(h) {
			t.Errorf("HashPassword(%q) = %q; want a PHC string with m=65536,t=3,p=4, 16-byte salt, 32-byte key", alg, h)
		}
		assertVerifies(t, h, "correct horse")
	}
	a, _ := users.HashPassword("same", "")
	b, _ := users.HashPassword("same", "")
	if a == b {
		t.Error("two hashes of one password are equal; want random salts")
	}
}

func TestHashPassword_bcrypt(t *testing.T) {
	if testing.Short() {
		t.Skip("cost-12 bcrypt in -short mode")
	}
	h, err := users.HashPassword("correct horse", users.AlgorithmBcrypt)
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != users.BcryptCost {
		t.Errorf("bcrypt cost = %d, %v; want %d", cost, err, users.BcryptCost)
	}
	assertVerifies(t, h, "correct horse")
	if _, err := users.HashPassword(strings.Repeat("x", 73), users.AlgorithmBcrypt); err == nil {
		t.Error("bcrypt of a 73-byte password: err = nil; want an error, not silent truncation")
	}
}

func TestHashPassword_unknownAlgorithm(t *testing.T) {
	if _, err := users.HashPassword("pw", "md5"); err == nil {
		t.Error("HashPassword(md5): err = nil; want an error")
	}
}

func TestKnownHashes(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, hash, password string }{
		// The example hash from Authelia's documentation (password "password").
		{"authelia_argon2id", "$argon2id$v=19$m=65536,t=3,p=2$BpLnfgDsc2WD8F2q$o/vzA4myCqZZ36bUGsDY//8mKUYNZZaR0t4MFFSs+iM", "password"},
		{"bcrypt_2y", "$2y$" + string(bc[4:]), "password"},
		{"bcrypt_2b", "$2b$" + string(bc[4:]), "password"},
		{"bcrypt_2a", string(bc), "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "authelia_argon2id" && testing.Short() {
				t.Skip("64 MiB argon2id in -short mode")
			}
			assertVerifies(t, tt.hash, tt.password)
		})
	}
}

// assertVerifies loads hash into a users file and checks that password is
// accepted and another is not.
func assertVerifies(tb testing.TB, hash, password string) {
	tb.Helper()
	f, _ := open(tb, fmt.Sprintf("users:\n  u:\n    password: '%s'\n", hash), false)
	if _, err := f.Authenticate(context.Background(), "u", password); err != nil {
		tb.Errorf("Authenticate with the right password: %v", err)
	}
	if _, err := f.Authenticate(context.Background(), "u", password+"x"); !errors.Is(err, users.ErrInvalidCredentials) {
		tb.Errorf("Authenticate with a wrong password: err = %v; want ErrInvalidCredentials", err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	f, p := open(t, goodFile(t), true)
	dave := cheapHash(t, "dave-pw")

	// Rewrite in place: a new user appears.
	writeFile(t, filepath.Dir(p), goodFile(t)+fmt.Sprintf("  dave:\n    password: '%s'\n", dave))
	eventually(t, "dave is added", func() bool { _, ok := f.Lookup("dave"); return ok })
	if _, err := f.Authenticate(context.Background(), "dave", "dave-pw"); err != nil {
		t.Errorf("Authenticate(dave) after reload: %v", err)
	}

	// A broken file keeps the last good snapshot.
	writeFile(t, filepath.Dir(p), "users:\n  dave: [\n")
	if err := f.Reload(); err == nil {
		t.Error("Reload of a broken file: err = nil; want an error")
	}
	if _, ok := f.Lookup("dave"); !ok {
		t.Error("Lookup(dave) = false after a broken write; want the last good snapshot")
	}

	// Replace by rename, as editors do: alice is removed.
	tmp := filepath.Join(filepath.Dir(p), ".users.yml.tmp")
	content := fmt.Sprintf("users:\n  dave:\n    password: '%s'\n", dave)
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice is removed", func() bool { _, ok := f.Lookup("alice"); return !ok })
	if _, ok := f.Lookup("dave"); !ok {
		t.Error("Lookup(dave) = false; want true")
	}

	// Disable dave: the hot path stops admitting him.
	writeFile(t, filepath.Dir(p), content+"    disabled: true\n")
	eventually(t, "dave is disabled", func() bool { _, ok := f.Lookup("dave"); return !ok })
}

// TestWatch_busyDirectory: a file written without pause beside the users
// file (a log, say) must not put a reload off: a disabled user is seen
// within the usual delay.
func TestWatch_busyDirectory(t *testing.T) {
	f, p := open(t, goodFile(t), true)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		log := filepath.Join(filepath.Dir(p), "gate.log")
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				if fh, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
					_, _ = fh.WriteString("request\n")
					_ = fh.Close()
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	writeFile(t, filepath.Dir(p), strings.Replace(goodFile(t), "disabled: false", "disabled: true", 1))
	eventually(t, "bob is disabled", func() bool { _, ok := f.Lookup("bob"); return !ok })
}

// TestWatch_configMap replays how kubelet updates a mounted ConfigMap: the
// file is a symlink through "..data", which is atomically repointed at a new
// timestamped directory.
func TestWatch_configMap(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "..v1")
	v2 := filepath.Join(dir, "..v2")
	for _, d := range []string{v1, v2} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, v1, goodFile(t))
	writeFile(t, v2, fmt.Sprintf("users:\n  erin:\n    password: '%s'\n", cheapHash(t, "pw")))
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "users.yml")
	if err := os.Symlink(filepath.Join("..data", "users.yml"), p); err != nil {
		t.Fatal(err)
	}
	f, err := users.Open(p, true, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, ok := f.Lookup("alice"); !ok {
		t.Fatal("Lookup(alice) = false before the swap")
	}

	if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(v1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the swapped file is loaded", func() bool { _, ok := f.Lookup("erin"); return ok })
	if _, ok := f.Lookup("alice"); ok {
		t.Error("Lookup(alice) = true after the swap; want false")
	}
}

// syncBuffer is a log sink that the watcher goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatch_logsBrokenFile(t *testing.T) {
	var logs syncBuffer
	p := writeFile(t, t.TempDir(), goodFile(t))
	f, err := users.Open(p, true, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	leak := cheapHash(t, "x")
	writeFile(t, filepath.Dir(p), fmt.Sprintf("users:\n  alice:\n    password: '%s'\n    foo: 1\n", leak))
	eventually(t, "the broken file is logged", func() bool { return strings.Contains(logs.String(), "not reloaded") })
	line := strings.TrimSuffix(logs.String(), "\n")
	if strings.Contains(line, "\n") {
		t.Errorf("log = %q; want one line", line)
	}
	if !strings.Contains(line, "users.alice.foo") {
		t.Errorf("log = %q; want it to name users.alice.foo", line)
	}
	if strings.Contains(line, leak) || strings.Contains(line, "$argon2id$") {
		t.Errorf("log = %q; leaks the hash", line)
	}
	if _, ok := f.Lookup("bob"); !ok {
		t.Error("Lookup(bob) = false; want the last good snapshot kept")
	}
}

func TestClose_stopsWatching(t *testing.T) {
	f, p := open(t, goodFile(t), true)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	writeFile(t, filepath.Dir(p), "users: {}\n")
	if _, ok := f.Lookup("alice"); !ok {
		t.Error("Lookup(alice) = false after Close; want the last snapshot kept")
	}
}

func TestUser_noHash(t *testing.T) {
	f, _ := open(t, goodFile(t), false)
	u, _ := f.Lookup("alice")
	if s := fmt.Sprintf("%+v %#v", u, u); strings.Contains(s, "argon2") {
		t.Errorf("User prints %q; want no hash", s)
	}
}

// A reload tells OnRevoke exactly the users it revokes: a new password
// hash, disabled, removed. Other edits revoke nobody.
func TestOnRevoke(t *testing.T) {
	a, b, c, d := cheapHash(t, "a"), cheapHash(t, "b"), cheapHash(t, "c"), cheapHash(t, "d")
	entry := func(name, hash, groups string, disabled bool) string {
		return fmt.Sprintf("  %s:\n    password: '%s'\n    groups: [%s]\n    disabled: %v\n", name, hash, groups, disabled)
	}
	base := "users:\n" + entry("alice", a, "dev", false) + entry("bob", b, "dev", false) +
		entry("carol", c, "dev", true) + entry("dave", d, "dev", false)
	tests := []struct {
		name string
		next string
		want []string
	}{
		{"unchanged_but_groups", "users:\n" + entry("alice", a, "admins", false) + entry("bob", b, "dev", false) +
			entry("carol", c, "dev", true) + entry("dave", d, "dev", false) + entry("erin", a, "", false), nil},
		{"hash_disabled_removed", "users:\n" + entry("alice", b, "dev", false) + entry("bob", b, "dev", true) +
			entry("carol", c, "dev", true), []string{"alice", "bob", "dave"}},
		{"disabled_user_removed_or_enabled", "users:\n" + entry("alice", a, "dev", false) + entry("bob", b, "dev", false) +
			entry("dave", d, "dev", false), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, path := open(t, base, false)
			var got []string
			calls := 0
			f.OnRevoke(func(names []string) { got = names; calls++ })
			if err := os.WriteFile(path, []byte(tt.next), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := f.Reload(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("revoked = %q; want %q", got, tt.want)
			}
			if tt.want == nil && calls != 0 {
				t.Errorf("OnRevoke called %d times for a reload that revokes nobody", calls)
			}
			if u, ok := f.Lookup("alice"); ok && tt.want != nil && u.Stamp == "" {
				t.Error("alice has no stamp")
			}
		})
	}
}

// Stamps tell hashes apart and say nothing of them.
func TestStamp(t *testing.T) {
	h1, h2 := cheapHash(t, "same"), cheapHash(t, "same")
	f, _ := open(t, fmt.Sprintf("users:\n  a:\n    password: '%s'\n  b:\n    password: '%s'\n  c:\n    password: '%s'\n", h1, h2, h1), false)
	a, _ := f.Lookup("a")
	b, _ := f.Lookup("b")
	c, _ := f.Lookup("c")
	if a.Stamp == "" || a.Stamp == b.Stamp || a.Stamp != c.Stamp {
		t.Errorf("stamps: a %x, b %x, c %x; want a == c != b, non-empty", a.Stamp, b.Stamp, c.Stamp)
	}
	if strings.Contains(h1, a.Stamp) || strings.Contains(a.Stamp, "argon2") {
		t.Error("the stamp carries part of the hash")
	}
}
