package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"gate/internal/testkit"
	gateusers "gate/internal/users"
)

// The demo user the tests sign in as.
const (
	aliceName   = "alice"
	alicePass   = "alice-e2e-password"
	aliceGroups = "admins,dev"
	aliceEmail  = "alice@example.com"
	aliceDisp   = "Alice Example"
	// aliceToken is an API token of alice's, of the shape gate token
	// create makes.
	aliceToken = "gate_e2eE2Ee2eE2Ee2eE2Ee2eE2Ee2eE2Ee2eE2Ee2eE2Ee"
)

// cheapHash makes an argon2id PHC string with tiny parameters, so that a
// login costs no noticeable time; the hash carries its own parameters.
func cheapHash(password string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, 1, 1024, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=1024,t=1,p=1$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(key))
}

// gateConfig protects app.example.com, with a bypass rule for /public, and
// serves the portal on auth.example.com at the proxy's port.
const gateConfig = `server:
  address: 'tcp://127.0.0.1:%[1]d'
  trusted_proxies: ['127.0.0.0/8', '::1/128']
log:
  level: debug
  format: text
portal:
  url: 'http://auth.example.com:%[2]d'
  default_redirect_url: 'http://app.example.com:%[2]d/'
authentication_backend:
  file:
    path: '%[3]s'
    watch: true
  header:
    basic: true
    tokens: true
    cache: 5m
access_control:
  default_policy: deny
  rules:
    - domain: 'app.example.com'
      resources: ['^/public(/.*)?$']
      policy: bypass
    - domain: 'app.example.com'
      resources: ['^/limited(/.*)?$']
      policy: bypass
      rate_limit: {requests: 2, period: 1m, by: client}
    - domain: 'app.example.com'
      policy: one_factor
regulation:
  max_retries: 3
  find_time: 2m
  ban_time: 5m
session:
  domain: example.com
`

// startGate runs the gate binary on a free port with the portal at
// proxyPort, and returns it, its port and its (watched) users file once
// /healthz answers. backends, when not empty, is YAML inserted at the top
// of authentication_backend (indented by two spaces), such as an oidc list.
func startGate(t testing.TB, proxyPort int, backends string) (*proc, int, string) {
	t.Helper()
	dir := t.TempDir()
	users := writeUsers(t, dir)
	p, port := runGate(t, dir, func(port int) string {
		return strings.Replace(fmt.Sprintf(gateConfig, port, proxyPort, users),
			"authentication_backend:\n", "authentication_backend:\n"+backends, 1)
	})
	return p, port, users
}

// writeUsers writes a users file with alice into dir and returns its path.
func writeUsers(t testing.TB, dir string) string {
	t.Helper()
	users := filepath.Join(dir, "users.yml")
	writeFile(t, users, fmt.Sprintf(`users:
  %s:
    displayname: '%s'
    password: '%s'
    email: %s
    groups: [admins, dev]
    tokens:
      - {name: e2e, hash: '%s'}
`, aliceName, aliceDisp, cheapHash(alicePass), aliceEmail, gateusers.TokenHash(aliceToken)))
	return users
}

// runGate runs the gate binary on a free port with the configuration that
// config returns for that port, written into dir with a fresh session
// secret, and returns it and its port once /healthz answers. env adds
// variables (NAME=value) to gate's environment.
func runGate(t testing.TB, dir string, config func(port int) string, env ...string) (*proc, int) {
	t.Helper()
	secret := filepath.Join(dir, "session_secret")
	writeFile(t, secret, rand.Text()+rand.Text()+"\n")
	port := testkit.FreePort(t)
	cfg := filepath.Join(dir, "gate.yml")
	writeFile(t, cfg, config(port))

	cmd := exec.Command(gateBin, "serve")
	cmd.Env = append([]string{"GATE_CONFIG=" + cfg, "GATE_SESSION_SECRET_FILE=" + secret}, env...)
	p := start(t, "gate", dir, cmd)
	healthz := "http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	p.waitFor(t, 10*time.Second, "answer on /healthz", func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, healthz, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p, port
}

// echoed is what the echo upstream saw of a request.
type echoed struct {
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// echoServer is the protected app: it answers every request with what it
// received, as JSON (served as text/plain, which browsers show as is).
type echoServer struct {
	port int
	hits atomic.Int64
}

func startEcho(t testing.TB) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{port: ln.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.hits.Add(1)
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			b, _ := json.MarshalIndent(echoed{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header, Body: string(body)}, "", "  ")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(b)
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e
}

// client talks to the proxy on 127.0.0.1 whatever the URL's host, so that
// URLs, Host headers and cookies carry the example names as in a browser.
// It does not follow redirects.
func client(t testing.TB, proxyPort int) *http.Client {
	t.Helper()
	return newClient(proxyPort)
}

// newClient is client for use outside the test's goroutine.
func newClient(proxyPort int) *http.Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	addr := "127.0.0.1:" + strconv.Itoa(proxyPort)
	var d net.Dialer
	return &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
