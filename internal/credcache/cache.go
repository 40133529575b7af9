package credcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/keys"
)

// Key names a credential: HMAC-SHA256 under hmacKey (keys.Set's
// Credentials) of user, password and stamp (users.User.Stamp, which
// changes with the password hash). The NUL separators keep ("a", "b:c")
// and ("a:b", "c") apart. A server names credentials through a Namer.
func Key(hmacKey []byte, user, password, stamp string) string {
	return NewNamer(hmacKey).Name(user, password, stamp)
}

// Namer is Key under one HMAC key, with its hash state reused across
// calls: it runs on every Basic-auth request.
type Namer struct {
	mac *keys.MAC
}

// NewNamer returns a Namer under hmacKey.
func NewNamer(hmacKey []byte) *Namer { return &Namer{mac: keys.NewMAC(hmacKey)} }

// Name is Key(hmacKey, user, password, stamp).
func (n *Namer) Name(user, password, stamp string) string {
	return n.mac.Hex(user, password, stamp)
}

// DefaultMaxEntries bounds the memory cache: a flood of distinct right
// credentials cannot grow it further.
const DefaultMaxEntries = 100_000

// Memory is the one-instance cache: a bounded map of expiry times.
type Memory struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	entries map[string]time.Time
}

// NewMemory returns a cache of at most maxEntries credentials (0 means
// DefaultMaxEntries) on the clock now (time.Now when nil).
func NewMemory(maxEntries int, now func() time.Time) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, max: maxEntries, entries: make(map[string]time.Time)}
}

// Verified reports whether key was remembered and has not expired.
func (m *Memory) Verified(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.entries[key]
	if ok && !m.now().Before(exp) {
		delete(m.entries, key)
		return false, nil
	}
	return ok, nil
}

// Remember keeps key for ttl. When the table is full it first drops
// expired entries; if it is still full the credential is not cached and
// will be checked again next time, which costs time but never admits
// anything.
func (m *Memory) Remember(_ context.Context, key string, ttl time.Duration) error {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[key]; !ok && len(m.entries) >= m.max {
		for k, exp := range m.entries {
			if !now.Before(exp) {
				delete(m.entries, k)
			}
		}
		if len(m.entries) >= m.max {
			return nil
		}
	}
	m.entries[key] = now.Add(ttl)
	return nil
}

// Len returns the number of entries held, expired ones included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Redis is the fleet's cache: one key per credential under
// <prefix>cred:<key>, with the cache period as its TTL, so that Redis
// forgets it by itself. Each call is one single-key command, which works
// on Redis Cluster.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a cache on client under prefix
// (session.redis.state_prefix).
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// RedisKey is the Redis key of a credential key.
func (r *Redis) RedisKey(key string) string { return r.prefix + "cred:" + key }

// Verified reports whether key is in Redis. A Redis error is returned;
// callers fail closed.
func (r *Redis) Verified(ctx context.Context, key string) (bool, error) {
	n, err := r.client.Exists(ctx, r.RedisKey(key)).Result()
	if err != nil {
		return false, fmt.Errorf("credcache: redis exists: %w", err)
	}
	return n == 1, nil
}

// Remember stores key for ttl.
func (r *Redis) Remember(ctx context.Context, key string, ttl time.Duration) error {
	if err := r.client.Set(ctx, r.RedisKey(key), "1", ttl).Err(); err != nil {
		return fmt.Errorf("credcache: redis set: %w", err)
	}
	return nil
}

// ErrPanicked is what the waiters of a check that panicked get.
var ErrPanicked = errors.New("credcache: the shared check panicked")

// Group runs one function per key at a time and hands its result to
// every caller that asked for the same key meanwhile: concurrent first
// uses of one credential cost one password check, not one each.
type Group[T any] struct {
	mu    sync.Mutex
	calls map[string]*call[T]
}

type call[T any] struct {
	done    chan struct{}
	waiters int // guarded by Group.mu
	val     T
	err     error
}

// Do runs fn for key, or waits for the run already under way and returns
// its result; shared reports the latter. A waiter whose ctx ends stops
// waiting with ctx's error.
func (g *Group[T]) Do(ctx context.Context, key string, fn func() (T, error)) (v T, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call[T])
	}
	if c, ok := g.calls[key]; ok {
		c.waiters++
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.val, true, c.err
		case <-ctx.Done():
			var zero T
			return zero, true, ctx.Err()
		}
	}
	c := &call[T]{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	c.err = ErrPanicked
	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	return c.val, false, c.err
}
