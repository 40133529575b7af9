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
// instance. Each method runs under one lock, which makes it the atomic step
// the Counters contract asks for. It is bounded: expired entries are swept
// as it is written to, and when it holds maxKeys live entries it evicts, so
// that an attacker spraying usernames or addresses cannot grow it without
// bound (memory exhaustion). Eviction drops failure counts before bans, so
// spraying cannot cheaply lift a running ban.
type MemoryCounters struct {
	now     func() time.Time
	maxKeys int

	mu        sync.Mutex
	entries   map[string]*memEntry
	lastSweep time.Time
}

// memEntry is the state of one key, as the Redis hash holds it. It lives
// until until, the end of its window or, once banned, of its ban; after
// that it is dead and may be swept.
type memEntry struct {
	fails   int64 // F: wrong passwords in the window; 0 during a ban
	pending int64 // P: checks in flight; outside a ban fails+pending <= Max
	banned  bool
	until   time.Time
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

// Reserve implements Counters.
func (m *MemoryCounters) Reserve(_ context.Context, key string, l Limits) (time.Duration, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e := m.live(key, now)
	switch {
	case e != nil && e.banned:
		return e.until.Sub(now), false, nil
	case e != nil && e.fails+e.pending >= l.Max:
		return 0, false, nil
	case e == nil:
		e = m.create(key, now, l.Window)
	}
	e.pending++
	return 0, true, nil
}

// Fail implements Counters.
func (m *MemoryCounters) Fail(_ context.Context, key string, l Limits) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e := m.live(key, now)
	if e == nil {
		// The window ended while the password was checked: the failure
		// opens the next one.
		e = m.create(key, now, l.Window)
	}
	if e.pending > 0 {
		e.pending--
	}
	if e.banned {
		return nil
	}
	e.fails++
	if e.fails >= l.Max {
		e.banned, e.fails, e.until = true, 0, now.Add(l.Ban)
	}
	return nil
}

// Release implements Counters.
func (m *MemoryCounters) Release(_ context.Context, key string, reset bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, m.now())
	if e == nil {
		return nil
	}
	if e.pending > 0 {
		e.pending--
	}
	if e.banned {
		return nil
	}
	if reset {
		e.fails = 0
	}
	if e.fails == 0 && e.pending == 0 {
		delete(m.entries, key)
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

// live returns the entry of key, nil when there is none or it is dead.
// m.mu is held.
func (m *MemoryCounters) live(key string, now time.Time) *memEntry {
	e, ok := m.entries[key]
	if !ok || !now.Before(e.until) {
		return nil
	}
	return e
}

// create makes a fresh entry for key that lives for window, sweeping or
// evicting first if it would exceed the bound. m.mu is held.
func (m *MemoryCounters) create(key string, now time.Time, window time.Duration) *memEntry {
	if _, ok := m.entries[key]; !ok {
		if now.Sub(m.lastSweep) >= sweepEvery || len(m.entries) >= m.maxKeys {
			m.sweep(now)
		}
		if len(m.entries) >= m.maxKeys {
			m.evict(now)
		}
	}
	e := &memEntry{until: now.Add(window)}
	m.entries[key] = e
	return e
}

// sweep drops dead entries.
func (m *MemoryCounters) sweep(now time.Time) {
	m.lastSweep = now
	for k, e := range m.entries {
		if !now.Before(e.until) {
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
		if !e.banned || !now.Before(e.until) {
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
