package redistest

import (
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"gate/internal/config"
	"gate/internal/redisconn"
	"gate/internal/session"
)

// Secret is the session.secret of the stores NewStore builds.
const Secret = "redistest-session-secret-0123456789abcdef"

// Prefix returns a key prefix no other call returns, so that tests sharing
// a Redis never see each other's keys.
func Prefix() string {
	return "gt:" + strings.ToLower(rand.Text()[:12]) + ":"
}

// Config returns a session.redis section with the defaults config fills
// in, unique prefixes, and no address: the caller sets host, url, TLS,
// Sentinel or Cluster.
func Config() config.Redis {
	p := Prefix()
	return config.Redis{
		Port:                     6379,
		MaximumActiveConnections: 8,
		Timeout:                  5 * time.Second,
		SessionPrefix:            p + "session:",
		StatePrefix:              p + "state:",
	}
}

// ExternalURL is GATE_TEST_REDIS_URL: a Redis the tests may use instead
// of starting a plain server. Every test keeps to its own key prefix.
func ExternalURL() string {
	return os.Getenv("GATE_TEST_REDIS_URL")
}

// NewStore builds a session store on cfg the way gate serve does (a client
// from redisconn, the store from session.NewRedis), judging expiry by now,
// and closes it when the test ends.
func NewStore(t testing.TB, cfg config.Redis, now func() time.Time) *session.Redis {
	t.Helper()
	client, plan, err := redisconn.New(cfg)
	if err != nil {
		t.Fatalf("redisconn.New: %v", err)
	}
	s, err := session.NewRedis(client, session.RedisOptions{
		Secret:   Secret,
		Prefix:   cfg.SessionPrefix,
		Name:     plan.String(),
		Now:      now,
		PoolSize: plan.PoolSize,
		Timeout:  plan.Timeout,
	})
	if err != nil {
		client.Close()
		t.Fatalf("session.NewRedis: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
