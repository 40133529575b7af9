package http_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	gatehttp "gate/internal/http"
	"gate/internal/testkit/redistest"
	"gate/internal/users"
)

func TestLoginStrictBody(t *testing.T) {
	e := newEnv(t, envOpts{maxRetries: 100})
	jsonTests := []struct {
		name, body string
		want       int
		reason     string
	}{
		{"exact_keys", `{"username":"alice","password":"` + alicePass + `","remember_me":false,"rd":""}`, 200, ""},
		{"key_case_differs", `{"Username":"alice","password":"` + alicePass + `"}`, 400, `unknown key \"Username\"`},
		{"unknown_key", `{"username":"alice","password":"` + alicePass + `","admin":true}`, 400, `unknown key \"admin\"`},
		{"repeated_username", `{"username":"bob","username":"alice","password":"` + alicePass + `"}`, 400, `repeated key \"username\"`},
		{"repeated_by_escape", `{"username":"bob","user\u006eame":"alice","password":"` + alicePass + `"}`, 400, `repeated key \"username\"`},
		{"repeated_password", `{"username":"alice","password":"x","password":"` + alicePass + `"}`, 400, `repeated key \"password\"`},
		{"wrong_type", `{"username":"alice","password":"` + alicePass + `","remember_me":"yes"}`, 400, "wrong type"},
		{"not_an_object", `["alice","` + alicePass + `"]`, 400, "want an object"},
		{"trailing_data", `{"username":"alice","password":"` + alicePass + `"} {}`, 400, "data after the object"},
		{"truncated", `{"username":"alice"`, 400, "invalid JSON body"},
	}
	for _, tt := range jsonTests {
		t.Run("json_"+tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/login", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/json")
			resp := e.do(r)
			b := body(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d; want %d (body %s)", resp.StatusCode, tt.want, b)
			}
			if !strings.Contains(b, tt.reason) {
				t.Errorf("body = %s; want it to contain %s", b, tt.reason)
			}
		})
	}
	formTests := []struct {
		name   string
		form   string
		want   int
		reason string
	}{
		{"single_fields", "username=alice&password=" + alicePass + "&remember_me=on", 302, ""},
		{"repeated_username", "username=bob&username=alice&password=" + alicePass, 400, "Repeated form field &#34;username&#34;"},
		{"repeated_password", "username=alice&password=x&password=" + alicePass, 400, "Repeated form field &#34;password&#34;"},
		{"repeated_rd", "username=alice&password=" + alicePass + "&rd=https://app.example.com/&rd=https://evil.example.net/", 400, "Repeated form field &#34;rd&#34;"},
		{"repeated_other", "username=alice&password=" + alicePass + "&x=1&x=2", 400, "Repeated form field &#34;x&#34;"},
	}
	for _, tt := range formTests {
		t.Run("form_"+tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/login", strings.NewReader(tt.form))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp := e.do(r)
			b := body(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d; want %d", resp.StatusCode, tt.want)
			}
			if !strings.Contains(b, tt.reason) {
				t.Errorf("page does not say %q", tt.reason)
			}
		})
	}
}

// burstGate opens once n parties have arrived, or after a long timeout so
// that a broken server fails the test instead of hanging it.
type burstGate struct {
	mu   sync.Mutex
	left int
	open chan struct{}
}

func newBurstGate(n int) *burstGate { return &burstGate{left: n, open: make(chan struct{})} }

func (g *burstGate) arrive() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.left--
	if g.left == 0 {
		close(g.open)
	}
}

func (g *burstGate) wait() {
	select {
	case <-g.open:
	case <-time.After(10 * time.Second):
	}
}

// countingUsers counts the passwords checked, and holds each check at the
// gate until every attempt of a burst has been admitted (and reached its
// check) or refused: so no check ends, and no failure is counted, before
// every attempt has begun, which is the worst case for the regulator.
type countingUsers struct {
	gatehttp.UserDirectory
	gate          *burstGate
	checks, wrong *atomic.Int64
}

func (c countingUsers) Authenticate(ctx context.Context, name, password string) (users.User, error) {
	c.checks.Add(1)
	if password != alicePass {
		c.wrong.Add(1)
	}
	c.gate.arrive()
	c.gate.wait()
	return c.UserDirectory.Authenticate(ctx, name, password)
}

// TestLoginBurstIsRegulated: with max_retries 3, 15 wrong passwords and
// the right one sent at once for one user check at most 3 passwords; the
// rest get 429 with Retry-After. On one server with the memory store, on
// one with Redis, and on two gate servers sharing one Redis.
func TestLoginBurstIsRegulated(t *testing.T) {
	const n = 16
	tests := []struct {
		name    string
		servers func(t *testing.T, wrap func(gatehttp.UserDirectory) gatehttp.UserDirectory) []http.Handler
	}{
		{"memory", func(t *testing.T, wrap func(gatehttp.UserDirectory) gatehttp.UserDirectory) []http.Handler {
			return []http.Handler{newEnv(t, envOpts{maxRetries: 3, wrapUsers: wrap}).h}
		}},
		{"redis", func(t *testing.T, wrap func(gatehttp.UserDirectory) gatehttp.UserDirectory) []http.Handler {
			cfg := redisConfig(redistest.StartServer(t, redistest.ServerOptions{}))
			return []http.Handler{newRedisGateWith(t, cfg, writeRedisUsers(t), wrap).h}
		}},
		{"redis_two_instances", func(t *testing.T, wrap func(gatehttp.UserDirectory) gatehttp.UserDirectory) []http.Handler {
			cfg := redisConfig(redistest.StartServer(t, redistest.ServerOptions{}))
			path := writeRedisUsers(t)
			return []http.Handler{newRedisGateWith(t, cfg, path, wrap).h, newRedisGateWith(t, cfg, path, wrap).h}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gate := newBurstGate(n)
			var checks, wrong atomic.Int64
			handlers := tt.servers(t, func(u gatehttp.UserDirectory) gatehttp.UserDirectory {
				return countingUsers{UserDirectory: u, gate: gate, checks: &checks, wrong: &wrong}
			})
			var urls []string
			for _, h := range handlers {
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				urls = append(urls, srv.URL)
			}

			codes := make([]int, n)
			retryAfter := make([]string, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					password := fmt.Sprintf("wrong-%d", i)
					if i == 0 {
						password = alicePass
					}
					b, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
					req, _ := http.NewRequest("POST", urls[i%len(urls)]+"/api/login", strings.NewReader(string(b)))
					req.Header.Set("Content-Type", "application/json")
					<-start
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						gate.arrive()
						return
					}
					resp.Body.Close()
					codes[i], retryAfter[i] = resp.StatusCode, resp.Header.Get("Retry-After")
					if resp.StatusCode == http.StatusTooManyRequests {
						gate.arrive()
					}
				})
			}
			close(start)
			wg.Wait()

			if got := wrong.Load(); got > 3 {
				t.Errorf("%d wrong passwords checked; want at most 3", got)
			}
			if got := checks.Load(); got > 3 || got < 1 {
				t.Errorf("%d passwords checked; want 1 to 3", got)
			}
			var refused int64
			for i, code := range codes {
				switch code {
				case http.StatusOK, http.StatusUnauthorized:
				case http.StatusTooManyRequests:
					refused++
					if retryAfter[i] == "" {
						t.Errorf("attempt %d: 429 without Retry-After", i)
					}
				default:
					t.Errorf("attempt %d: status %d; want 200, 401 or 429", i, code)
				}
			}
			if got, want := refused, n-checks.Load(); got != want {
				t.Errorf("%d answered 429; want %d, every attempt whose password was not checked", got, want)
			}
		})
	}
}

// TestLoginBurstIsAnswered fires 200 logins at once at a real server
// whose users have a realistic argon2id hash (8 MiB, one pass: the cost
// of a production hash is memory and time, not a different code path).
// Every connection gets an answer (200, 401, 429 or 503) well within the
// write timeout; every 503 carries Retry-After; and where 200 exceed the
// workers and their queue, some logins are refused with 503 rather than
// queued until the connection times out.
func TestLoginBurstIsAnswered(t *testing.T) {
	const (
		n            = 200
		writeTimeout = 5 * time.Second
	)
	hash := argon2idHash(t, alicePass, 8*1024)
	e := newEnv(t, envOpts{maxRetries: 1000, writeTimeout: writeTimeout, usersFile: "users:\n  alice: {password: '" + hash + "'}\n  bob: {password: '" + hash + "'}\n"})

	srv := httptest.NewUnstartedServer(e.h)
	srv.Config.WriteTimeout = writeTimeout
	srv.Start()
	t.Cleanup(srv.Close)

	// Connect first, then send every request at once.
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	type answer struct {
		code       int
		retryAfter string
		took       time.Duration
		err        error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range conns {
		wg.Go(func() {
			user, pass := "alice", alicePass
			switch i % 4 {
			case 1:
				pass = "wrong"
			case 2:
				user = fmt.Sprintf("nobody%d", i)
			case 3:
				user = "bob"
			}
			form := url.Values{"username": {user}, "password": {pass}}.Encode()
			raw := fmt.Sprintf("POST /api/login HTTP/1.1\r\nHost: auth.example.com\r\nAccept: application/json\r\n"+
				"Content-Type: application/x-www-form-urlencoded\r\nX-Forwarded-For: 203.0.%d.%d\r\nContent-Length: %d\r\n\r\n%s",
				i/250, i%250, len(form), form)
			<-start
			t0 := time.Now()
			_ = c.SetDeadline(t0.Add(2 * writeTimeout))
			if _, err := c.Write([]byte(raw)); err != nil {
				answers[i].err = err
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers[i] = answer{err: err, took: time.Since(t0)}
				return
			}
			resp.Body.Close()
			answers[i] = answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(t0)}
		})
	}
	close(start)
	wg.Wait()

	counts := map[int]int{}
	var slowest time.Duration
	for i, a := range answers {
		if a.err != nil {
			t.Errorf("connection %d: no answer after %v: %v", i, a.took, a.err)
			continue
		}
		counts[a.code]++
		slowest = max(slowest, a.took)
		switch a.code {
		case http.StatusOK, http.StatusUnauthorized, http.StatusTooManyRequests:
		case http.StatusServiceUnavailable:
			if a.retryAfter == "" {
				t.Errorf("connection %d: 503 without Retry-After", i)
			}
		default:
			t.Errorf("connection %d: status %d; want 200, 401, 429 or 503", i, a.code)
		}
	}
	t.Logf("GOMAXPROCS %d: answers by status %v; slowest %v", runtime.GOMAXPROCS(0), counts, slowest.Round(time.Millisecond))
	if slowest >= writeTimeout {
		t.Errorf("slowest answer after %v; want under the write timeout, %v", slowest, writeTimeout)
	}
	if counts[http.StatusOK] == 0 {
		t.Error("no login succeeded")
	}
	// Workers and a queue of 4 each: 200 at once overflow them below 40
	// CPUs.
	if runtime.GOMAXPROCS(0)*5 < n && counts[http.StatusServiceUnavailable] == 0 {
		t.Error("no login refused with 503; want the burst to overflow the queue")
	}
}

// TestLoginBusyReleasesRegulation: a login refused with 503 because the
// workers are busy counts for nothing with the regulator.
func TestLoginBusyReleasesRegulation(t *testing.T) {
	busy := busyUsers{}
	e := newEnv(t, envOpts{maxRetries: 2, wrapUsers: func(u gatehttp.UserDirectory) gatehttp.UserDirectory {
		busy.UserDirectory = u
		return &busy
	}})
	busy.on = true
	for range 5 {
		resp, _ := e.login("alice", "wrong", "")
		wantStatus(t, resp, http.StatusServiceUnavailable)
		if ra := resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After = %q; want 1", ra)
		}
	}
	busy.on = false
	e.mustLogin("alice", alicePass)
}

// busyUsers answers ErrBusy while on.
type busyUsers struct {
	gatehttp.UserDirectory
	on bool
}

func (b *busyUsers) Authenticate(ctx context.Context, name, password string) (users.User, error) {
	if b.on {
		return users.User{}, fmt.Errorf("users: check password of %q: %w", name, users.ErrBusy)
	}
	return b.UserDirectory.Authenticate(ctx, name, password)
}

// argon2idHash makes an argon2id PHC string of password with memory KiB
// and one pass.
func argon2idHash(t testing.TB, password string, memory uint32) string {
	t.Helper()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, 1, memory, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", memory, enc.EncodeToString(salt), enc.EncodeToString(key))
}
