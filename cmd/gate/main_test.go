package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"gate/internal/testkit"
	"gate/internal/users"
)

type result struct {
	code           int
	stdout, stderr string
}

func runGate(t *testing.T, ctx context.Context, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(ctx, args, getenv, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

const secret = "a-test-secret-that-is-long-enough-xyz"

// writeConfig writes a valid configuration listening on addr and returns its path.
func writeConfig(t *testing.T, addr, extra string) string {
	t.Helper()
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.yml")
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(usersFile, []byte("users:\n  alice:\n    password: '"+string(hash)+"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`server:
  address: 'tcp://%s'
portal:
  url: 'https://auth.example.com'
authentication_backend:
  file:
    path: '%s'
session:
  secret: '%s'
  domain: example.com
%s`, addr, usersFile, secret, extra)
	path := filepath.Join(dir, "gate.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{name: "unknown_command", args: []string{"frobnicate"}, wantCode: 2, wantErr: "unknown command"},
		{name: "unknown_flag", args: []string{"serve", "--nope"}, wantCode: 2, wantErr: "usage:"},
		{name: "serve_without_config", args: []string{"serve"}, wantCode: 2, wantErr: "no configuration given: use --config or GATE_CONFIG"},
		{name: "default_command_without_config", args: nil, wantCode: 2, wantErr: "no configuration given"},
		{name: "validate_without_config", args: []string{"validate-config"}, wantCode: 2, wantErr: "no configuration given"},
		{name: "healthcheck_without_config", args: []string{"healthcheck"}, wantCode: 2, wantErr: "no configuration given"},
		{name: "extra_argument", args: []string{"version", "extra"}, wantCode: 2, wantErr: "unexpected argument"},
		{name: "bad_algorithm", args: []string{"hash-password", "--algorithm", "md5"}, wantCode: 2, wantErr: "--algorithm"},
		{name: "token_without_subcommand", args: []string{"token"}, wantCode: 2, wantErr: "create"},
		{name: "token_create_without_user", args: []string{"token", "create", "--name", "ci"}, wantCode: 2, wantErr: "--user and --name"},
		{name: "token_create_bad_expires", args: []string{"token", "create", "--user", "a", "--name", "ci", "--expires", "tomorrow"}, wantCode: 2, wantErr: "--expires"},
		{name: "missing_config_file", args: []string{"validate-config", "-c", "/nonexistent/gate.yml"}, wantCode: 1, wantErr: "/nonexistent/gate.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runGate(t, context.Background(), tt.env, "", tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit = %d; want %d (stderr %q)", r.code, tt.wantCode, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tt.wantErr)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stderr has a stack trace: %q", r.stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := runGate(t, context.Background(), nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "gate ") || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestValidateConfig(t *testing.T) {
	path := writeConfig(t, "127.0.0.1:9091", "")
	t.Run("valid", func(t *testing.T) {
		r := runGate(t, context.Background(), nil, "", "validate-config", "--config", path)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "configuration is valid" {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("gate_config_env", func(t *testing.T) {
		r := runGate(t, context.Background(), map[string]string{"GATE_CONFIG": path}, "", "validate-config")
		if r.code != 0 {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("every_problem_with_key_path", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yml")
		overlay := "session:\n  secret: 'short-secret-value'\n  inactivity: 2h\n  redis:\n    host: localhost\n    port: 70000\n    password: 'hunter2-redis-password'\n"
		if err := os.WriteFile(bad, []byte(overlay), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runGate(t, context.Background(), nil, "", "validate-config", "-c", path, "-c", bad)
		if r.code != 1 {
			t.Fatalf("exit = %d; want 1 (stderr %q)", r.code, r.stderr)
		}
		for _, want := range []string{"session.secret", "session.inactivity", "session.redis.port"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q: %s", want, r.stderr)
			}
		}
		for _, secret := range []string{"short-secret-value", "hunter2-redis-password"} {
			if strings.Contains(r.stderr, secret) {
				t.Errorf("stderr reveals a secret: %s", r.stderr)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			if !strings.HasPrefix(line, "gate: ") {
				t.Errorf("line %q is not one readable problem", line)
			}
		}
	})
}

func TestHashPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("hashing with production parameters is slow")
	}
	for _, tt := range []struct {
		name, stdin string
		args        []string
		prefix      string
	}{
		{name: "argon2id_default_strips_lf", stdin: "pass word\n", prefix: "$argon2id$v=19$m=65536,t=3,p=4$"},
		{name: "bcrypt_strips_crlf", stdin: "pass word\r\n", args: []string{"--algorithm", "bcrypt"}, prefix: "$2a$12$"},
		{name: "flag_password", args: []string{"--algorithm", "bcrypt", "--password", "pass word"}, prefix: "$2a$12$"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runGate(t, context.Background(), nil, tt.stdin, append([]string{"hash-password"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			hash := strings.TrimSuffix(r.stdout, "\n")
			if strings.Contains(hash, "\n") || !strings.HasPrefix(hash, tt.prefix) {
				t.Fatalf("stdout = %q; want one %s hash line", r.stdout, tt.prefix)
			}
			f := filepath.Join(t.TempDir(), "users.yml")
			if err := os.WriteFile(f, []byte("users:\n  u:\n    password: '"+hash+"'\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			dir, err := users.Open(f, false, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			defer dir.Close()
			if _, err := dir.Authenticate(context.Background(), "u", "pass word"); err != nil {
				t.Errorf("hash does not verify the password: %v", err)
			}
		})
	}
	t.Run("empty_password", func(t *testing.T) {
		if r := runGate(t, context.Background(), nil, "\n", "hash-password"); r.code != 1 {
			t.Errorf("exit = %d; want 1", r.code)
		}
	})
}

func TestServeAndHealthcheck(t *testing.T) {
	addr := testkit.FreeAddr(t)
	path := writeConfig(t, addr, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- runGate(t, ctx, nil, "", "--config", path) }()

	waitHealthy(t, nil, path, done)
	cancel()
	select {
	case res := <-done:
		if res.code != 0 {
			t.Errorf("serve exit = %d after shutdown; stderr %q", res.code, res.stderr)
		}
		if !strings.Contains(res.stderr, "shutting down") {
			t.Errorf("no shutdown line in the log: %q", res.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after the context ended")
	}
	if r := runGate(t, context.Background(), nil, "", "healthcheck", "--config", path); r.code != 1 {
		t.Errorf("healthcheck after shutdown: exit %d; want 1", r.code)
	}
}

// waitHealthy polls the healthcheck command until it passes, failing when
// serve exits first or nothing passes within the deadline.
func waitHealthy(t *testing.T, env map[string]string, path string, done <-chan result) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := runGate(t, context.Background(), env, "", "healthcheck", "--config", path)
		if r.code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck never passed: %q", r.stderr)
		}
		select {
		case res := <-done:
			t.Fatalf("serve exited early: %d %q", res.code, res.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestServeUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "gate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "g.sock")
	path := writeConfig(t, "127.0.0.1:1", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{"GATE_SERVER_ADDRESS": "unix://" + sock}
	done := make(chan result, 1)
	go func() { done <- runGate(t, ctx, env, "", "serve", "-c", path) }()
	waitHealthy(t, env, path, done)
	cancel()
	if res := <-done; res.code != 0 {
		t.Errorf("serve exit = %d; stderr %q", res.code, res.stderr)
	}
}

func TestServeRefusesBadListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := writeConfig(t, ln.Addr().String(), "")
	r := runGate(t, context.Background(), nil, "", "serve", "-c", path)
	if r.code != 1 || !strings.Contains(r.stderr, "server.address") {
		t.Errorf("exit %d, stderr %q; want 1 naming server.address", r.code, r.stderr)
	}
}
