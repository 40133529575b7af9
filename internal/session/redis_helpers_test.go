package session_test

import (
	"testing"
	"time"

	"gate/internal/config"
	"gate/internal/keys"
	"gate/internal/redisconn"
	"gate/internal/session"
)

// testSecret is the session.secret of the stores NewStore builds.
const testSecret = "redistest-session-secret-0123456789abcdef"

// testKeys returns the keys derived from Secret.
func testKeys(t testing.TB) keys.Set {
	t.Helper()
	k, err := keys.FromSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newRedisStore builds a session store on cfg the way gate serve does (a client
// from redisconn, the store from session.NewRedis), judging expiry by now,
// and closes it when the test ends.
func newRedisStore(t testing.TB, cfg config.Redis, now func() time.Time) *session.Redis {
	t.Helper()
	client, plan, err := redisconn.New(cfg)
	if err != nil {
		t.Fatalf("redisconn.New: %v", err)
	}
	s, err := session.NewRedis(client, session.RedisOptions{
		RecordKey: testKeys(t).RecordCipher,
		NameKey:   testKeys(t).KeyHash,
		Prefix:    cfg.SessionPrefix,
		Name:      plan.String(),
		Now:       now,
		PoolSize:  plan.PoolSize,
		Timeout:   plan.Timeout,
	})
	if err != nil {
		client.Close()
		t.Fatalf("session.NewRedis: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
