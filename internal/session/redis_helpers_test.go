package session_test

import (
	"context"
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
	return buildRedisStore(t, cfg, now, false)
}

// newCachedStore is newRedisStore with the local cache on, its streams
// built from the same plan, as gate serve builds them.
func newCachedStore(t testing.TB, cfg config.Redis, now func() time.Time) *session.Redis {
	t.Helper()
	s := buildRedisStore(t, cfg, now, true)
	// Connected, as gate's health watch connects it at start: with
	// Sentinel, the cache waits for the store's client to name the master.
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return s
}

func buildRedisStore(t testing.TB, cfg config.Redis, now func() time.Time, cached bool) *session.Redis {
	t.Helper()
	client, plan, err := redisconn.New(cfg)
	if err != nil {
		t.Fatalf("redisconn.New: %v", err)
	}
	opts := session.RedisOptions{
		RecordKey: testKeys(t).RecordCipher,
		NameKey:   testKeys(t).KeyHash,
		Prefix:    cfg.SessionPrefix,
		Name:      plan.String(),
		Now:       now,
		PoolSize:  plan.PoolSize,
		Timeout:   plan.Timeout,
	}
	if cached {
		opts.Cache = &session.CacheOptions{MaxEntries: 1000, StreamClient: plan.StreamClient, WatchMaster: plan.MasterWatch()}
	}
	s, err := session.NewRedis(client, opts)
	if err != nil {
		client.Close()
		t.Fatalf("session.NewRedis: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitCache polls until the store's cache is up (or down).
func waitCache(t testing.TB, s *session.Redis, up bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.CacheStats().Up != up {
		if time.Now().After(deadline) {
			t.Fatalf("cache up = %v after 10s; want %v", !up, up)
		}
		time.Sleep(time.Millisecond)
	}
}
