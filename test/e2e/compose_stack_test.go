package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
)

// TestComposeStackWithoutDocker runs what docker-compose.nginx.yml runs,
// as processes: make-secrets.sh's secrets and redis.conf for redis-server,
// gate with compose/gate.yml and the secrets from files (only addresses
// changed), nginx with the shipped configuration, and the demo user. It
// signs in, and checks that the session lives in Redis: it outlives gate.
func TestComposeStackWithoutDocker(t *testing.T) {
	redisServer := testkit.Need(t, "redis", "Debian: apt-get install redis-server", "redis-server")
	nginx := testkit.Need(t, "nginx", proxyKinds[0].how, "nginx")
	sh := testkit.Need(t, "sh", "a POSIX shell", "sh")
	dir := t.TempDir()

	secrets := filepath.Join(dir, "secrets")
	if out, err := exec.Command(sh, filepath.Join(repoRoot, "configs", "compose", "make-secrets.sh"), secrets).CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, out)
	}
	redisPort := testkit.FreePort(t)
	redis := start(t, "redis", dir, exec.Command(redisServer, filepath.Join(secrets, "redis.conf"),
		"--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"))
	redis.waitListen(t, redisPort)

	s := &stack{kind: proxyKinds[0], echo: startEcho(t)}
	s.ports.proxy, s.ports.app, s.ports.gate = testkit.FreePort(t), s.echo.port, testkit.FreePort(t)
	env := []string{
		"GATE_CONFIG=" + filepath.Join(repoRoot, "configs", "compose", "gate.yml"),
		"GATE_SESSION_SECRET_FILE=" + filepath.Join(secrets, "session_secret"),
		"GATE_SESSION_REDIS_PASSWORD_FILE=" + filepath.Join(secrets, "redis_password"),
		// The container's paths and names, as this machine has them.
		"GATE_AUTHENTICATION_BACKEND_FILE_PATH=" + filepath.Join(repoRoot, "configs", "users.yml"),
		"GATE_SERVER_ADDRESS=tcp://127.0.0.1:" + strconv.Itoa(s.ports.gate),
		"GATE_SERVER_TRUSTED_PROXIES=127.0.0.0/8",
		"GATE_SESSION_REDIS_HOST=127.0.0.1",
		"GATE_SESSION_REDIS_PORT=" + strconv.Itoa(redisPort),
		fmt.Sprintf("GATE_PORTAL_URL=http://auth.example.com:%d", s.ports.proxy),
		fmt.Sprintf("GATE_PORTAL_DEFAULT_REDIRECT_URL=http://app.example.com:%d/", s.ports.proxy),
	}
	runGate := func(name string) *proc {
		t.Helper()
		cmd := exec.Command(gateBin, "serve")
		cmd.Env = env
		g := start(t, name, dir, cmd)
		ready := "http://127.0.0.1:" + strconv.Itoa(s.ports.gate) + "/readyz"
		g.waitFor(t, 15*time.Second, "answer 200 on /readyz", func(ctx context.Context) bool {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ready, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		return g
	}
	gate := runGate("gate")
	proxyDir := filepath.Join(dir, "nginx")
	if err := os.Mkdir(proxyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	nginxAt("configs")(t, nginx, proxyDir, s.ports).waitListen(t, s.ports.proxy)

	c := client(t, s.ports.proxy)
	target := s.appURL("/hello?x=1")
	resp := s.do(t, c, http.MethodGet, target, nil, nil)
	if got, want := resp.Header.Get("Location"), s.portalURL("/?rd="+url.QueryEscape(target)); got != want {
		t.Fatalf("anonymous: status %d, Location %q; want 302 to %q", resp.StatusCode, got, want)
	}
	// The demo user of configs/users.yml.
	form := url.Values{"username": {"alice"}, "password": {"gate-demo-password"}, "rd": {target}}
	resp = s.do(t, c, http.MethodPost, s.portalURL("/api/login"), strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Origin":       {s.portalOrigin()},
	})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != target {
		t.Fatalf("login: status %d, Location %q; want 302 to %s\n%s", resp.StatusCode, resp.Header.Get("Location"), target, readAll(t, resp))
	}
	e := s.get(t, c, target, nil)
	if got := e.Header.Get("Remote-User"); got != "alice" {
		t.Fatalf("app saw Remote-User %q; want alice", got)
	}

	// A new gate process, as after a restart or on another instance, finds
	// the session in Redis.
	gate.stop()
	runGate("gate-again")
	if got := s.get(t, c, target, nil).Header.Get("Remote-User"); got != "alice" {
		t.Errorf("after a gate restart the app saw Remote-User %q; want alice", got)
	}
}
