package session

import (
	"context"
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configures NewMemory. Zero values pick the defaults.
type MemoryOptions struct {
	// Now is the clock expiry is judged against; default time.Now.
	Now func() time.Time
	// MaxSessions bounds the store; default 1_000_000. A full store makes
	// room for a new session by evicting, so a login flood cannot exhaust
	// memory.
	MaxSessions int
	// CleanupInterval is how often ended sessions are removed in the
	// background; default 1m. Negative disables the background pass
	// (MaxSessions still bounds the store).
	CleanupInterval time.Duration
}

const (
	defaultMaxSessions     = 1_000_000
	defaultCleanupInterval = time.Minute

	// numShards spreads the lock traffic of concurrent Gets; a power of two
	// so the shard is a mask of the hash.
	numShards = 64

	// evictionSamples is how many sessions a full store looks at to pick the
	// one to evict, as Redis does for its approximated LRU/TTL eviction:
	// a handful of random samples comes close to the true minimum at a
	// constant cost.
	evictionSamples = 5
)

var errClosed = errors.New("session: store closed")

// Memory is an in-process Store for a single gate instance. Sessions do not
// survive a restart.
//
// Records are immutable once stored: Touch swaps in an updated copy. That
// lets Get hand out the stored pointer under a read lock without copying,
// so callers must not modify what Get returns.
type Memory struct {
	now  func() time.Time
	max  int64
	seed maphash.Seed

	shards [numShards]shard

	// n counts held sessions plus slots reserved by Creates in flight; it
	// never exceeds max.
	n atomic.Int64

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{} // nil when background cleanup is disabled
	done      chan struct{}
}

var _ Store = (*Memory)(nil)

// shard holds the sessions whose id hashes to it, and the per-user index of
// exactly those sessions. Keeping both under one lock means every change
// updates them together: id is in byUser[u] if and only if
// sessions[id].Owner() == u, so the index never holds an id that is gone.
type shard struct {
	mu       sync.RWMutex
	sessions map[string]*Session
	byUser   map[string]userIndex
	// byProvider indexes provider sessions by providerKey of their
	// subject and of their sid, under the same rule as byUser.
	byProvider map[string]userIndex
	// Padding keeps neighbouring shards' locks off one cache line, so
	// readers of one shard do not slow down readers of the next.
	_ [64]byte
}

// NewMemory returns a memory store and starts its background cleanup; Close
// stops it.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{
		now:  opts.Now,
		max:  int64(opts.MaxSessions),
		seed: maphash.MakeSeed(),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.max <= 0 {
		m.max = defaultMaxSessions
	}
	for i := range m.shards {
		m.shards[i].sessions = make(map[string]*Session)
		m.shards[i].byUser = make(map[string]userIndex)
		m.shards[i].byProvider = make(map[string]userIndex)
	}
	interval := opts.CleanupInterval
	if interval == 0 {
		interval = defaultCleanupInterval
	}
	if interval > 0 {
		m.stop = make(chan struct{})
		m.done = make(chan struct{})
		go m.cleanupLoop(interval)
	}
	return m
}

// shard picks by a seeded hash, so ids cannot be chosen to pile onto one
// shard.
func (m *Memory) shard(id string) *shard {
	return &m.shards[maphash.String(m.seed, id)&(numShards-1)]
}

func (m *Memory) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.closed.Load() {
		return errClosed
	}
	return nil
}

// NewID implements Store: a plain NewID, whatever the user.
func (m *Memory) NewID(string) (string, error) {
	return newID()
}

// Create implements Store. An ended session still holding the id is
// replaced.
func (m *Memory) Create(ctx context.Context, s *Session) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	rec := s.clone()
	m.reserve()
	now := m.now()
	sh := m.shard(rec.ID)
	sh.mu.Lock()
	if old, ok := sh.sessions[rec.ID]; ok {
		if !old.Expired(now) {
			sh.mu.Unlock()
			m.n.Add(-1)
			return ErrExists
		}
		sh.remove(old)
		m.n.Add(-1)
	}
	sh.add(rec)
	sh.mu.Unlock()
	return nil
}

// reserve takes one slot of the bound, evicting until one is free. Taking
// the slot before inserting keeps the bound strict under concurrent Creates.
func (m *Memory) reserve() {
	for {
		n := m.n.Load()
		if n < m.max {
			if m.n.CompareAndSwap(n, n+1) {
				return
			}
			continue
		}
		if !m.evict() {
			// The slots are held by Creates that have not inserted yet;
			// let them finish.
			runtime.Gosched()
		}
	}
}

// evict removes, from a small random sample, every ended session, or else
// the live one with the earliest deadline: the one that would have ended
// first anyway. It reports whether it removed anything.
func (m *Memory) evict() bool {
	var sample [evictionSamples]*Session
	k := 0
	start := rand.IntN(numShards)
	// Map iteration starts at a random entry, and ids hash independently of
	// deadlines, so consecutive entries of one shard are as good a sample as
	// entries spread over many. A store holding fewer than evictionSamples
	// sessions is sampled whole, which makes small bounds exact.
	for i := 0; i < numShards && k < evictionSamples; i++ {
		sh := &m.shards[(start+i)%numShards]
		sh.mu.RLock()
		for _, rec := range sh.sessions {
			sample[k] = rec
			k++
			if k == evictionSamples {
				break
			}
		}
		sh.mu.RUnlock()
	}
	if k == 0 {
		return false
	}

	now := m.now()
	removed := 0
	var earliest *Session
	for _, rec := range sample[:k] {
		if rec.Expired(now) {
			if m.removeIfSame(rec) {
				removed++
			}
			continue
		}
		if earliest == nil || rec.Deadline().Before(earliest.Deadline()) {
			earliest = rec
		}
	}
	// Others may have made room meanwhile; a live session is evicted only
	// when it must be.
	if removed == 0 && earliest != nil && m.n.Load() >= m.max && m.removeIfSame(earliest) {
		removed++
	}
	return removed > 0
}

// removeIfSame removes rec unless it has been deleted or replaced (by Touch)
// since it was sampled.
func (m *Memory) removeIfSame(rec *Session) bool {
	sh := m.shard(rec.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.sessions[rec.ID] != rec {
		return false
	}
	sh.remove(rec)
	m.n.Add(-1)
	return true
}

// Get implements Store. It allocates nothing: the returned record is the
// stored one and must not be modified.
func (m *Memory) Get(ctx context.Context, id string) (*Session, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	sh := m.shard(id)
	sh.mu.RLock()
	rec, ok := sh.sessions[id]
	sh.mu.RUnlock()
	if !ok || rec.Expired(m.now()) {
		return nil, ErrNotFound
	}
	return rec, nil
}

// Touch implements Store.
func (m *Memory) Touch(ctx context.Context, id string, t time.Time) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	now := m.now()
	sh := m.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rec, ok := sh.sessions[id]
	if !ok {
		return ErrNotFound
	}
	if rec.Expired(now) {
		sh.remove(rec)
		m.n.Add(-1)
		return ErrNotFound
	}
	if !t.After(rec.LastActivity) {
		return nil
	}
	// Replace rather than modify: readers may hold rec without a lock.
	next := *rec
	next.LastActivity = t
	sh.sessions[id] = &next
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, id string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	sh := m.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if rec, ok := sh.sessions[id]; ok {
		sh.remove(rec)
		m.n.Add(-1)
	}
	return nil
}

// DeleteUser implements Store. It counts only sessions that were still
// live. Shards are visited one after another, so a session created for the
// user while it runs may survive; it was created after the revocation.
func (m *Memory) DeleteUser(ctx context.Context, user string) (int, error) {
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	return m.deleteIndexed(func(sh *shard) userIndex { return sh.byUser[user] }), nil
}

// deleteIndexed removes, shard by shard, the sessions that index names in
// each shard, and counts those that were still live.
func (m *Memory) deleteIndexed(index func(*shard) userIndex) int {
	now := m.now()
	live := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		removed := 0
		for _, id := range index(sh).ids() {
			rec := sh.sessions[id]
			if !rec.Expired(now) {
				live++
			}
			sh.remove(rec)
			removed++
		}
		sh.mu.Unlock()
		m.n.Add(-int64(removed))
	}
	return live
}

// DeleteProvider implements Store. Like DeleteUser it counts only
// sessions that were still live, visiting shards one after another.
func (m *Memory) DeleteProvider(ctx context.Context, provider, subject, sid string) (int, error) {
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	key := providerKey(provider, "sub", subject)
	if sid != "" {
		key = providerKey(provider, "sid", sid)
	}
	return m.deleteIndexed(func(sh *shard) userIndex { return sh.byProvider[key] }), nil
}

// providerKey names a provider session's subject or sid in byProvider;
// the NULs keep a provider id and a subject from running into each other.
func providerKey(provider, kind, v string) string {
	return provider + "\x00" + kind + "\x00" + v
}

// Ping implements Store: a memory store can serve until it is closed.
func (m *Memory) Ping(ctx context.Context) error {
	return m.check(ctx)
}

// Close implements Store. It stops the background cleanup and waits for it.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		if m.stop != nil {
			close(m.stop)
			<-m.done
		}
	})
	return nil
}

// Len reports how many sessions the store holds, for the active-sessions
// metric. Ended sessions count until the next cleanup removes them; counting
// only live ones would mean reading every record.
func (m *Memory) Len() int {
	return int(m.n.Load())
}

func (m *Memory) cleanupLoop(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.cleanup()
		}
	}
}

// cleanup removes every ended session and returns how many. Each shard is
// scanned under its read lock and written only for the removal, so Gets on
// that shard wait for the deletions, not for the scan.
func (m *Memory) cleanup() int {
	now := m.now()
	var ended []*Session
	total := 0
	for i := range m.shards {
		sh := &m.shards[i]
		ended = ended[:0]
		sh.mu.RLock()
		for _, rec := range sh.sessions {
			if rec.Expired(now) {
				ended = append(ended, rec)
			}
		}
		sh.mu.RUnlock()
		if len(ended) == 0 {
			continue
		}
		removed := 0
		sh.mu.Lock()
		for _, rec := range ended {
			// A record touched since the scan was replaced and is live.
			if sh.sessions[rec.ID] == rec {
				sh.remove(rec)
				removed++
			}
		}
		sh.mu.Unlock()
		m.n.Add(-int64(removed))
		total += removed
	}
	return total
}

// add and remove are the only writers of sessions and byUser for a key, so
// the index cannot drift from the records. The caller holds sh.mu.
func (sh *shard) add(rec *Session) {
	sh.sessions[rec.ID] = rec
	owner := rec.Owner()
	sh.byUser[owner] = sh.byUser[owner].add(rec.ID)
	for _, k := range providerKeys(rec) {
		sh.byProvider[k] = sh.byProvider[k].add(rec.ID)
	}
}

func (sh *shard) remove(rec *Session) {
	delete(sh.sessions, rec.ID)
	removeFrom(sh.byUser, rec.Owner(), rec.ID)
	for _, k := range providerKeys(rec) {
		removeFrom(sh.byProvider, k, rec.ID)
	}
}

func removeFrom(index map[string]userIndex, key, id string) {
	if ix := index[key].remove(id); ix.len() > 0 {
		index[key] = ix
	} else {
		delete(index, key)
	}
}

// providerKeys are the byProvider keys of a record: none for a password
// login, its subject's and, when it has one, its sid's.
func providerKeys(rec *Session) []string {
	if rec.Provider == "" {
		return nil
	}
	keys := []string{providerKey(rec.Provider, "sub", rec.Subject)}
	if rec.SID != "" {
		keys = append(keys, providerKey(rec.Provider, "sid", rec.SID))
	}
	return keys
}

// userIndex is one user's session ids within a shard. Nearly every user has
// a handful, and a map per user would cost more than the session itself, so
// ids live in a small slice until there are more than smallIndex of them; a
// user with thousands of sessions gets a set, keeping removal O(1).
type userIndex struct {
	few  []string
	many map[string]struct{}
}

const smallIndex = 8

func (ix userIndex) len() int { return len(ix.few) + len(ix.many) }

func (ix userIndex) has(id string) bool {
	if ix.many != nil {
		_, ok := ix.many[id]
		return ok
	}
	return slices.Contains(ix.few, id)
}

func (ix userIndex) add(id string) userIndex {
	switch {
	case ix.many != nil:
		ix.many[id] = struct{}{}
	case len(ix.few) < smallIndex:
		ix.few = append(ix.few, id)
	default:
		ix.many = make(map[string]struct{}, 2*smallIndex)
		for _, v := range ix.few {
			ix.many[v] = struct{}{}
		}
		ix.many[id] = struct{}{}
		ix.few = nil
	}
	return ix
}

func (ix userIndex) remove(id string) userIndex {
	if ix.many != nil {
		delete(ix.many, id)
		return ix
	}
	if i := slices.Index(ix.few, id); i >= 0 {
		last := len(ix.few) - 1
		ix.few[i] = ix.few[last]
		ix.few[last] = ""
		ix.few = ix.few[:last]
	}
	return ix
}

// ids returns a copy, so callers may remove while they iterate.
func (ix userIndex) ids() []string {
	if ix.many == nil {
		return slices.Clone(ix.few)
	}
	out := make([]string, 0, len(ix.many))
	for id := range ix.many {
		out = append(out, id)
	}
	return out
}
