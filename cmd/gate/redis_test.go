package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
)

const redisPassword = "redis-Pa55word-for-tests"

func redisSection(port int) string {
	return fmt.Sprintf("  redis:\n    host: 127.0.0.1\n    port: %d\n    password: '%s'\n    timeout: 1s\n", port, redisPassword)
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestValidateConfigNeverConnects points the Redis section at a listener
// of the test's own: validate-config must pass without connecting to it.
func TestValidateConfigNeverConnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	withHost := writeConfig(t, "127.0.0.1:9091", redisSection(portOf(t, ln.Addr().String())))
	withURL := writeConfig(t, "127.0.0.1:9091", "  redis:\n    url: 'redis://:"+redisPassword+"@"+ln.Addr().String()+"/0'\n")
	for _, path := range []string{withHost, withURL} {
		if r := runGate(t, context.Background(), nil, "", "validate-config", "--config", path); r.code != 0 {
			t.Fatalf("validate-config: exit %d, stderr %q", r.code, r.stderr)
		}
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("validate-config connected to Redis")
	} else if ne := (net.Error)(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Accept: %v", err)
	}
}

// TestServeRedisDownAtStart starts gate with its Redis not yet running: it
// serves /healthz, answers /readyz 503 and logs the outage, then turns
// ready once Redis comes up on the configured port, without a restart.
func TestServeRedisDownAtStart(t *testing.T) {
	redistest.LookPath(t, "redis-server")
	redisPort := portOf(t, testkit.FreeAddr(t))
	addr := testkit.FreeAddr(t)
	path := writeConfig(t, addr, redisSection(redisPort))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- runGate(t, ctx, nil, "", "--config", path) }()

	waitHealthy(t, nil, path, done)
	if got := status(t, "http://"+addr+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz without Redis = %d; want 503", got)
	}

	redistest.StartServer(t, redistest.ServerOptions{Port: redisPort, Password: redisPassword})
	redistest.Eventually(t, 15*time.Second, func() error {
		if got := status(t, "http://"+addr+"/readyz"); got != http.StatusOK {
			return fmt.Errorf("/readyz = %d once Redis is up", got)
		}
		return nil
	})

	cancel()
	var res result
	select {
	case res = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if res.code != 0 {
		t.Errorf("serve exit = %d; stderr %q", res.code, res.stderr)
	}
	for _, want := range []string{"session store: redis", `"store":"redis"`, "redis unreachable"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("log lacks %q:\n%s", want, res.stderr)
		}
	}
	if n := strings.Count(res.stderr, "redis unreachable"); n != 1 {
		t.Errorf("the outage was reported %d times as it began; want once", n)
	}
	if strings.Contains(res.stderr, redisPassword) {
		t.Error("the log reveals the Redis password")
	}
}
