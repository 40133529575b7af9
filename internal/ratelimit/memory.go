package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxEntries bounds the memory table.
const DefaultMaxEntries = 100_000

// shards split the table so that concurrent decisions rarely share a lock.
const shards = 16

// sample is how many entries a full shard looks at to choose one to drop.
const sample = 8

// Memory is one instance's limiter: per key, the GCRA's theoretical
// arrival time, in a table of at most maxEntries keys.
//
// A flood of new client addresses cannot grow it past its bound: a full
// shard drops, out of a few entries it samples, an expired one or else
// the one nearest to its full allowance again, whose forgetting gives its
// key the least.
type Memory struct {
	now    func() time.Time
	seed   maphash.Seed
	perCap int
	shards [shards]memShard
}

type memShard struct {
	mu  sync.Mutex
	tat map[string]time.Time
}

// NewMemory returns a limiter of at most maxEntries keys (0 means
// DefaultMaxEntries) on the clock now (time.Now when nil).
func NewMemory(maxEntries int, now func() time.Time) *Memory {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	m := &Memory{now: now, seed: maphash.MakeSeed(), perCap: max(1, maxEntries/shards)}
	for i := range m.shards {
		m.shards[i].tat = make(map[string]time.Time)
	}
	return m
}

// Allow decides one request of key under limit.
func (m *Memory) Allow(_ context.Context, key string, limit Limit) (Result, error) {
	now := m.now()
	sh := &m.shards[maphash.String(m.seed, key)%shards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, ok := sh.tat[key]
	res, next := gcra(now, tat, limit)
	if !res.Allowed {
		return res, nil
	}
	if !ok && len(sh.tat) >= m.perCap {
		sh.evict(now)
	}
	sh.tat[key] = next
	return res, nil
}

// gcra decides one request at now for a key whose theoretical arrival
// time is tat (zero for a new key), returning the new one when admitted.
func gcra(now, tat time.Time, limit Limit) (Result, time.Time) {
	interval := limit.interval()
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	allowAt := next.Add(-limit.Period)
	if now.Before(allowAt) {
		return Result{RetryAfter: allowAt.Sub(now), ResetAfter: tat.Sub(now)}, tat
	}
	return Result{
		Allowed:    true,
		Remaining:  int(now.Sub(allowAt) / interval),
		ResetAfter: next.Sub(now),
	}, next
}

// evict drops one entry: of a few sampled (map order is random), an
// expired one at once, else the one with the earliest arrival time.
func (sh *memShard) evict(now time.Time) {
	var (
		victim string
		oldest time.Time
		n      int
	)
	for k, t := range sh.tat {
		if !t.After(now) {
			victim = k
			break
		}
		if n == 0 || t.Before(oldest) {
			victim, oldest = k, t
		}
		if n++; n == sample {
			break
		}
	}
	delete(sh.tat, victim)
}

// Len returns the number of keys held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.tat)
		sh.mu.Unlock()
	}
	return n
}
