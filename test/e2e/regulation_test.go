package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"gate/internal/testkit"
)

// TestConcurrentLoginsThroughProxies sends 15 wrong passwords and the
// right one for one user at once, through each shipped proxy, with
// max_retries 3. The hash is slow enough (argon2id, 16 MiB) for the
// attempts to overlap: gate used to check every one of them and answer
// 15 × 401 and a 200. Now at most max_retries wrong passwords are checked
// (401); the others are refused before their check (429, or 503 when
// every password worker is busy), and every attempt is answered.
func TestConcurrentLoginsThroughProxies(t *testing.T) {
	const user, password, attempts, maxRetries = "carl", "carl-e2e-password", 16, 3
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			s := startStack(t, kind, bin)
			s.addUser(t, user, slowHash(password))

			statuses := make([]int, attempts)
			errs := make([]error, attempts)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range attempts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					pw := fmt.Sprintf("wrong-%d", i)
					if i == attempts/2 {
						pw = password
					}
					<-start
					statuses[i], errs[i] = s.postLogin(user, pw)
				}()
			}
			close(start)
			wg.Wait()

			counts := map[int]int{}
			for i, code := range statuses {
				if errs[i] != nil {
					t.Errorf("attempt %d got no answer: %v", i, errs[i])
				}
				counts[code]++
			}
			t.Logf("answers by status: %v", counts)
			if counts[http.StatusUnauthorized] > maxRetries {
				t.Errorf("%d wrong passwords were checked (401); want at most %d", counts[http.StatusUnauthorized], maxRetries)
			}
			for code, n := range counts {
				switch code {
				case http.StatusFound, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable:
				default:
					t.Errorf("%d answers with status %d; want 302, 401, 429 or 503", n, code)
				}
			}
		})
	}
}

// slowHash is an argon2id hash whose check takes tens of milliseconds, so
// that concurrent logins overlap.
func slowHash(password string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, 1, 16*1024, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=16384,t=1,p=1$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(key))
}

// addUser adds a user to the stack's watched users file and waits until
// gate has reloaded it.
func (s *stack) addUser(t *testing.T, name, hash string) {
	t.Helper()
	b, err := os.ReadFile(s.users)
	if err != nil {
		t.Fatal(err)
	}
	reloads := s.gate.logCount(t, "users file reloaded")
	writeFile(t, s.users, string(b)+fmt.Sprintf("  %s:\n    password: '%s'\n    groups: [dev]\n", name, hash))
	s.gate.waitFor(t, 10*time.Second, "users file reloaded", func(context.Context) bool {
		return s.gate.logCount(t, "users file reloaded") > reloads
	})
}

// postLogin posts the portal's login form through the proxy and returns
// the status. It is safe to call from several goroutines.
func (s *stack) postLogin(user, password string) (int, error) {
	form := url.Values{"username": {user}, "password": {password}, "rd": {s.appURL("/")}}
	req, err := http.NewRequest(http.MethodPost, s.portalURL("/api/login"), strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.portalOrigin())
	resp, err := newClient(s.ports.proxy).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
