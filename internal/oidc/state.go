package oidc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// StateTTL is how long a sign-in may take between start and callback.
const StateTTL = 10 * time.Minute

// Sentinel errors of the state stores.
var (
	// ErrStateNotFound: no state under the key, because it never existed,
	// has expired, or was taken already (a replayed callback).
	ErrStateNotFound = errors.New("oidc: state not found")
	// ErrStateFull: the memory store holds as many sign-ins as it may.
	ErrStateFull = errors.New("oidc: too many sign-ins in progress")
)

// StateStore keeps sign-in state between start and callback. Take is
// atomic: of two callbacks presenting one state, one gets it and the
// other ErrStateNotFound, on one instance or many sharing a Redis.
type StateStore interface {
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Take(ctx context.Context, key string) ([]byte, error)
}

// MemoryStates is a StateStore for one gate instance, bounded so that a
// flood of sign-in starts cannot exhaust memory.
type MemoryStates struct {
	now func() time.Time
	max int

	mu      sync.Mutex
	entries map[string]memoryState
	// purged is when a full store last swept out expired states: under a
	// flood of starts it sweeps at most once a second, not on every Put.
	purged time.Time
}

type memoryState struct {
	value   []byte
	expires time.Time
}

var _ StateStore = (*MemoryStates)(nil)

// defaultMaxStates bounds the memory store: a state is a few hundred
// bytes, so this is a few tens of megabytes at most.
const defaultMaxStates = 100_000

// NewMemoryStates returns a memory store of at most max states (default
// 100000 when max <= 0) on clock now (default time.Now).
func NewMemoryStates(max int, now func() time.Time) *MemoryStates {
	if max <= 0 {
		max = defaultMaxStates
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryStates{now: now, max: max, entries: map[string]memoryState{}}
}

// Put implements StateStore. A full store first forgets expired states;
// still full, it refuses with ErrStateFull rather than evict a sign-in in
// progress.
func (m *MemoryStates) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= m.max && now.Sub(m.purged) >= time.Second {
		m.purged = now
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
	}
	if len(m.entries) >= m.max {
		return ErrStateFull
	}
	m.entries[key] = memoryState{value: append([]byte(nil), value...), expires: now.Add(ttl)}
	return nil
}

// Take implements StateStore.
func (m *MemoryStates) Take(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.Lock()
	e, ok := m.entries[key]
	delete(m.entries, key)
	m.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		return nil, ErrStateNotFound
	}
	return e.value, nil
}

// RedisStates is a StateStore in Redis, shared by every instance: a
// callback may land on another instance than its start. One key per
// state, <prefix>oidc:<keyed hash of the state>, with the state's TTL;
// Take is GETDEL, one atomic command on one key (any topology).
type RedisStates struct {
	client redis.UniversalClient
	prefix string
}

var _ StateStore = (*RedisStates)(nil)

// NewRedisStates returns a store on client under prefix
// (session.redis.state_prefix).
func NewRedisStates(client redis.UniversalClient, prefix string) *RedisStates {
	return &RedisStates{client: client, prefix: prefix}
}

// RedisKey is the Redis key of a state key.
func (r *RedisStates) RedisKey(key string) string { return r.prefix + "oidc:" + key }

// Put implements StateStore.
func (r *RedisStates) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := r.client.Set(ctx, r.RedisKey(key), value, ttl).Err(); err != nil {
		return fmt.Errorf("oidc: redis put state: %w", err)
	}
	return nil
}

// Take implements StateStore.
func (r *RedisStates) Take(ctx context.Context, key string) ([]byte, error) {
	v, err := r.client.GetDel(ctx, r.RedisKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrStateNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("oidc: redis take state: %w", err)
	}
	return v, nil
}
