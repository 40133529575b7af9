package redistest

import (
	"context"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// shared holds deployments that outlive one test, started on first use and
// stopped by Main.
var shared struct {
	mu       sync.Mutex
	entries  map[string]*sharedEntry
	cleanups []func()
}

// sharedEntry is one deployment; mu is held while it starts, so parallel
// tests asking for it wait for one start.
type sharedEntry struct {
	mu    sync.Mutex
	value any
	ok    bool
}

// sharedTB reports through the test that starts a shared deployment, but
// keeps its cleanups for Main, so the deployment serves the tests after.
type sharedTB struct {
	testing.TB
}

func (s sharedTB) Cleanup(f func()) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.cleanups = append(shared.cleanups, f)
}

// Shared returns the deployment named name, starting it with start on
// first use. Tests that share one must keep apart by key prefix (see
// Prefix) and must not stop it. The test package's TestMain must call Main,
// which stops shared deployments when the tests are done.
//
// A start that fails (or skips) fails (or skips) the calling test and is
// tried again by the next.
func Shared[T any](t testing.TB, name string, start func(t testing.TB) T) T {
	t.Helper()
	shared.mu.Lock()
	if shared.entries == nil {
		shared.entries = make(map[string]*sharedEntry)
	}
	e := shared.entries[name]
	if e == nil {
		e = &sharedEntry{}
		shared.entries[name] = e
	}
	shared.mu.Unlock()

	// A failing start ends the goroutine (t.Fatal, t.Skip); the deferred
	// unlock lets the next test try again.
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ok {
		e.value = start(sharedTB{t})
		e.ok = true
	}
	return e.value.(T)
}

// Main runs the tests and then stops the shared deployments; call it from
// TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	cleanups := shared.cleanups
	shared.cleanups, shared.entries = nil, nil
	shared.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	return code
}

// quietLogger drops go-redis's own log lines (dial failures while a server
// starts, Sentinel master changes), which would bury the test output.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietLogger{}) }
