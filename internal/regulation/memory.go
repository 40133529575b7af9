package regulation

import (
	"context"
	"sync"
	"time"
)

// DefaultMaxKeys bounds a MemoryCounters when none is given: about 100k
// keys, some tens of MiB at most.
const DefaultMaxKeys = 100_000

// sweepEvery is how often expired entries are swept on the write path.
const sweepEvery = time.Minute

// MemoryCounters keeps counters in process memory, for a single gate
// instance. It is safe for concurrent use and bounded: expired entries are
// swept as it is written to, and when it holds maxKeys live entries it
// evicts, so that an attacker spraying usernames or addresses cannot grow it
// without bound (memory exhaustion). Eviction drops failure counts before
// bans, so spraying cannot cheaply lift a running ban.
type MemoryCounters struct {
	now     func() time.Time
	maxKeys int

	mu        sync.Mutex
	entries   map[string]*memEntry
	lastSweep time.Time
}

// memEntry holds the state of one key. An entry whose failure window and ban
// have both ended is dead and may be swept.
type memEntry struct {
	fails       int64
	failsUntil  time.Time // end of the failure window; zero when no failures
	bannedUntil time.Time
}

var _ Counters = (*MemoryCounters)(nil)

// MemoryOptions configures NewMemoryCounters.
type MemoryOptions struct {
	// Now is the clock windows and bans are judged against; default time.Now.
	Now func() time.Time
	// MaxKeys bounds the number of keys held; default DefaultMaxKeys.
	MaxKeys int
}

// NewMemoryCounters returns an empty MemoryCounters.
func NewMemoryCounters(opts MemoryOptions) *MemoryCounters {
	m := &MemoryCounters{now: opts.Now, maxKeys: opts.MaxKeys, entries: make(map[string]*memEntry)}
	if m.now == nil {
		m.now = time.Now
	}
	if m.maxKeys <= 0 {
		m.maxKeys = DefaultMaxKeys
	}
	return m
}

// Fail implements Counters.
func (m *MemoryCounters) Fail(_ context.Context, key string, window time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e := m.entry(key, now)
	if !now.Before(e.failsUntil) {
		e.fails, e.failsUntil = 0, now.Add(window)
	}
	e.fails++
	return e.fails, nil
}

// Ban implements Counters.
func (m *MemoryCounters) Ban(_ context.Context, key string, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e := m.entry(key, now)
	if !now.Before(e.bannedUntil) {
		e.bannedUntil = now.Add(d)
	}
	return nil
}

// Banned implements Counters.
func (m *MemoryCounters) Banned(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return 0, nil
	}
	return max(0, e.bannedUntil.Sub(m.now())), nil
}

// Reset implements Counters.
func (m *MemoryCounters) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok {
		e.fails, e.failsUntil = 0, time.Time{}
		if !m.now().Before(e.bannedUntil) {
			delete(m.entries, key)
		}
	}
	return nil
}

// Keys returns the keys held, for tests and diagnostics.
func (m *MemoryCounters) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := make([]string, 0, len(m.entries))
	for k := range m.entries {
		ks = append(ks, k)
	}
	return ks
}

// Len returns the number of keys held.
func (m *MemoryCounters) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// entry returns the entry of key, creating it, and sweeping or evicting
// first if that would exceed the bound. m.mu is held.
func (m *MemoryCounters) entry(key string, now time.Time) *memEntry {
	if e, ok := m.entries[key]; ok {
		return e
	}
	if now.Sub(m.lastSweep) >= sweepEvery || len(m.entries) >= m.maxKeys {
		m.sweep(now)
	}
	if len(m.entries) >= m.maxKeys {
		m.evict(now)
	}
	e := &memEntry{}
	m.entries[key] = e
	return e
}

// sweep drops dead entries.
func (m *MemoryCounters) sweep(now time.Time) {
	m.lastSweep = now
	for k, e := range m.entries {
		if !now.Before(e.failsUntil) && !now.Before(e.bannedUntil) {
			delete(m.entries, k)
		}
	}
}

// evict makes room when live entries fill the map. It frees a tenth of the
// bound at once, so that a full map costs one scan per maxKeys/10 inserts,
// not one per insert. Failure counts go first, in map order (random), since
// losing one only grants a few more attempts. Bans go only if bans alone
// fill the map, also in random order: picking the soonest-ending would cost
// a sort.
func (m *MemoryCounters) evict(now time.Time) {
	target := m.maxKeys - max(1, m.maxKeys/10)
	for k, e := range m.entries {
		if len(m.entries) <= target {
			return
		}
		if !now.Before(e.bannedUntil) {
			delete(m.entries, k)
		}
	}
	for k := range m.entries {
		if len(m.entries) <= target {
			return
		}
		delete(m.entries, k)
	}
}
