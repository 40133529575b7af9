package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/config"
	"gate/internal/redisconn"
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

// authzLoad sends forward-auth decisions for one session from n
// goroutines until stopped, and counts the answers by status.
type authzLoad struct {
	mu      sync.Mutex
	codes   map[int]int
	lastErr error
	stop    func()
}

func startAuthzLoad(t *testing.T, addr, cookie string, n int) *authzLoad {
	t.Helper()
	l := &authzLoad{codes: map[int]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: n},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/authz/forward-auth", nil)
				req.Header.Set("X-Forwarded-Method", "GET")
				req.Header.Set("X-Forwarded-Proto", "https")
				req.Header.Set("X-Forwarded-Host", "app.example.com")
				req.Header.Set("X-Forwarded-Uri", "/")
				req.Header.Set("Cookie", cookie)
				resp, err := client.Do(req)
				if err != nil {
					l.mu.Lock()
					l.codes[-1]++
					l.lastErr = err
					l.mu.Unlock()
					continue
				}
				resp.Body.Close()
				l.mu.Lock()
				l.codes[resp.StatusCode]++
				l.mu.Unlock()
			}
		})
	}
	var once sync.Once
	l.stop = func() { once.Do(func() { cancel(); wg.Wait(); client.CloseIdleConnections() }) }
	t.Cleanup(l.stop)
	return l
}

func (l *authzLoad) count(code int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.codes[code]
}

// waitMore polls until the load has had more answers with code than it
// has now.
func (l *authzLoad) waitMore(t *testing.T, code, more int) {
	t.Helper()
	base := l.count(code)
	redistest.Eventually(t, 15*time.Second, func() error {
		if got := l.count(code) - base; got < more {
			l.mu.Lock()
			defer l.mu.Unlock()
			return fmt.Errorf("%d more answers %d; waiting for %d (answers so far: %v, %v)", got, code, more, l.codes, l.lastErr)
		}
		return nil
	})
}

// metric returns one sample of gate's /metrics, "" when absent.
func metric(t *testing.T, addr, sample string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			return v
		}
	}
	return ""
}

// TestServeRedisOutageLogsOnce kills Redis under concurrent decisions and
// starts it again: the log says "redis unreachable" once, with the error,
// and "redis reachable again" once, with the outage's duration and the
// failed requests counted; no failed request has a line of its own at
// error level, and the metrics show the store down during the outage and
// one outage in all.
func TestServeRedisOutageLogsOnce(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{Password: redisPassword})
	addr := testkit.FreeAddr(t)
	path := writeConfig(t, addr, redisSection(srv.Port)+"access_control:\n  default_policy: one_factor\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- runGate(t, ctx, nil, "", "--config", path) }()
	waitHealthy(t, nil, path, done)
	redistest.Eventually(t, 15*time.Second, func() error {
		if got := status(t, "http://"+addr+"/readyz"); got != http.StatusOK {
			return fmt.Errorf("/readyz = %d", got)
		}
		return nil
	})

	resp, err := http.Post("http://"+addr+"/api/login", "application/json", strings.NewReader(`{"username":"alice","password":"pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "gate_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if resp.StatusCode != http.StatusOK || cookie == "" {
		t.Fatalf("login: status %d, cookie %q", resp.StatusCode, cookie)
	}
	load := startAuthzLoad(t, addr, cookie, 16)
	load.waitMore(t, http.StatusOK, 100)

	killing := time.Now()
	srv.Stop()
	stopped := time.Now()
	load.waitMore(t, http.StatusServiceUnavailable, 500)
	if got := metric(t, addr, "gate_session_store_up"); got != "0" {
		t.Errorf("gate_session_store_up = %q during the outage; want 0", got)
	}
	restarting := time.Now()
	srv.Restart(t)
	restarted := time.Now()
	// The restarted Redis is empty: the session is gone, and gate says
	// "go log in".
	load.waitMore(t, http.StatusFound, 100)
	// The outage ends in the log and the metrics once requests have
	// succeeded for a quiet second.
	redistest.Eventually(t, 10*time.Second, func() error {
		if got := metric(t, addr, "gate_session_store_up"); got != "1" {
			return fmt.Errorf("gate_session_store_up = %q after the outage", got)
		}
		return nil
	})
	load.stop()
	if got := metric(t, addr, "gate_session_store_outages_total"); got != "1" {
		t.Errorf("gate_session_store_outages_total = %q; want 1", got)
	}
	if got := metric(t, addr, `gate_session_store_errors_total{op="get"}`); got == "" || got == "0" {
		t.Errorf("gate_session_store_errors_total{op=\"get\"} = %q; want the failed requests", got)
	}

	cancel()
	var res result
	select {
	case res = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	var unreachable, again, errorLines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		switch m["message"] {
		case "redis unreachable: authz, login and /readyz answer 503 until it is back":
			unreachable = append(unreachable, m)
		case "redis reachable again":
			again = append(again, m)
		}
		if m["level"] == "error" {
			errorLines = append(errorLines, m)
		}
	}
	if len(unreachable) != 1 || len(again) != 1 {
		t.Fatalf("%d unreachable and %d reachable-again lines; want one each:\n%s", len(unreachable), len(again), res.stderr)
	}
	if e, _ := unreachable[0]["error"].(string); e == "" {
		t.Error("the outage line gives no error")
	}
	if len(errorLines) != 1 {
		t.Errorf("%d lines at error level; want only the outage's:\n%v", len(errorLines), errorLines)
	}
	outage, err := time.ParseDuration(fmt.Sprint(again[0]["outage"]))
	if err != nil {
		t.Fatalf("reachable again: outage %v: %v", again[0]["outage"], err)
	}
	// From the first failed request to the first answered one: Redis was
	// down at least from the end of the kill to the start of the restart,
	// and at most from the start of the kill to the end of the restart.
	// The margin is for requests in flight and scheduling.
	const margin = 100 * time.Millisecond
	if least, most := restarting.Sub(stopped)-margin, restarted.Sub(killing)+margin; outage < least || outage > most {
		t.Errorf("outage logged as %v; want between %v and %v", outage, least, most)
	}
	// Every 503 the load saw is one failed request, and go-redis's own
	// connection set-up (CLIENT SETINFO on each failed dial) is none.
	n503 := float64(load.count(http.StatusServiceUnavailable))
	if n, _ := again[0]["failed_requests"].(float64); n < 0.9*n503 || n > n503 {
		t.Errorf("reachable again counts %v failed requests; the load saw %v answered 503", again[0]["failed_requests"], n503)
	}
}

// TestCacheOptions checks when serve turns the local session cache on: as
// configured, except when reads go to replicas, whose lag the master's
// invalidation stream does not cover.
func TestCacheOptions(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		replica func(p *redisconn.Plan)
		want    bool
	}{
		{"on", true, func(*redisconn.Plan) {}, true},
		{"off", false, func(*redisconn.Plan) {}, false},
		{"route_by_latency", true, func(p *redisconn.Plan) { p.RouteByLatency = true }, false},
		{"route_randomly", true, func(p *redisconn.Plan) { p.RouteRandomly = true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := config.Redis{Host: "127.0.0.1", Port: 1, LocalCache: config.RedisLocalCache{Enabled: tt.enabled, MaxEntries: 10}}
			plan, err := redisconn.Resolve(rc)
			if err != nil {
				t.Fatal(err)
			}
			tt.replica(plan)
			got := cacheOptions(rc, plan, zerolog.Nop())
			if (got != nil) != tt.want {
				t.Fatalf("cacheOptions = %v; want on = %v", got, tt.want)
			}
			if got != nil && got.MaxEntries != 10 {
				t.Errorf("MaxEntries = %d; want 10", got.MaxEntries)
			}
		})
	}
}
