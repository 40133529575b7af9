package session

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cacheShards spreads the cache's locks; a power of two.
const cacheShards = 64

// localCache keeps the sessions this instance read from Redis, decoded, so
// that repeat decisions cost no round trip and no decryption. It is exact
// only while Redis's invalidation stream is up (see tracker): every change
// of a record key in Redis arrives on the stream and drops the entry, and
// while any stream is down the cache is empty and bypassed.
//
// The race it must never lose: a read that left for Redis before a change
// and comes back after the change's invalidation was handled would store
// the older value, and nothing would ever remove it. So a fill is stored
// only if nothing that could have made its answer old happened while it
// was out: begin notes the stream epoch (bumped whenever the stream goes
// down, comes back or flushes) and the generation of the key's shard
// (bumped by every invalidation or local drop in it); put stores the answer
// only if both are unchanged and the stream is up. An invalidation handled
// before begin is for a change the read already sees: Redis sends it
// after the change is made, and the read is sent after it arrived.
//
// A nil *localCache is a disabled cache: every method is a no-op or a
// miss.
type localCache struct {
	prefix   string
	perShard int
	seed     maphash.Seed

	// epoch and up describe the stream: up is whether every stream the
	// cache depends on is subscribed; epoch moves on every change of that
	// and on every flush.
	epoch atomic.Uint64
	up    atomic.Bool

	invalidations, flushes atomic.Uint64

	shards [cacheShards]cacheShard
}

// cacheShard holds the entries whose user tag hashes to it, so that the
// sessions of one user, which DeleteUser drops together, share a shard.
// The tag is in both the session id and the record key, so a hit, which
// knows the id, needs no keyed hash to find its shard or its entry, and an
// invalidation, which names the key, finds the id through keys.
type cacheShard struct {
	mu      sync.RWMutex
	entries map[string]cacheEntry // by session id
	keys    map[string]string     // record key: session id
	// gen moves on every invalidation or drop in the shard; written under
	// mu, read without it by begin.
	gen          atomic.Uint64
	hits, misses atomic.Uint64
	// Padding keeps neighbouring shards' locks off one cache line.
	_ [64]byte
}

// CacheStats counts what the local cache did since the store was built.
type CacheStats struct {
	Hits, Misses uint64
	// Invalidations counts keys named by the invalidation stream;
	// Flushes counts times the whole cache was emptied (the stream lost or
	// restarted, or Redis flushed a database).
	Invalidations, Flushes uint64
	// Entries is the number of sessions held now.
	Entries int
	// Up is whether the invalidation stream is up, so the cache in use.
	Up bool
}

// cacheEntry is one cached session and its record key.
type cacheEntry struct {
	s   *Session
	key string
}

func newLocalCache(prefix string, maxEntries int) *localCache {
	c := &localCache{
		prefix:   prefix,
		perShard: max(1, maxEntries/cacheShards),
		seed:     maphash.MakeSeed(),
	}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]cacheEntry)
		c.shards[i].keys = make(map[string]string)
	}
	return c
}

// tagOf returns the user tag of a record key "<prefix>{T}:<H>", or false
// for any other key.
func (c *localCache) tagOf(key string) (string, bool) {
	if !strings.HasPrefix(key, c.prefix) {
		return "", false
	}
	rest := key[len(c.prefix):]
	if len(rest) < tagLen+3 || rest[0] != '{' || rest[tagLen+1] != '}' {
		return "", false
	}
	return rest[1 : tagLen+1], true
}

func (c *localCache) shardOfTag(tag string) *cacheShard {
	return &c.shards[maphash.String(c.seed, tag)&(cacheShards-1)]
}

func (c *localCache) shardOf(key string) *cacheShard {
	tag, ok := c.tagOf(key)
	if !ok {
		return nil
	}
	return c.shardOfTag(tag)
}

// get returns the cached session id of user tag when the stream is up and
// the copy is live by its own deadlines. A copy past its inactivity
// deadline is a miss, not an end: other instances may have written later
// activity, which does not reach this copy, so Redis decides.
func (c *localCache) get(tag, id string, now time.Time) (*Session, bool) {
	if c == nil || !c.up.Load() {
		return nil, false
	}
	sh := c.shardOfTag(tag)
	sh.mu.RLock()
	s := sh.entries[id].s
	sh.mu.RUnlock()
	if s == nil || s.Expired(now) {
		sh.misses.Add(1)
		return nil, false
	}
	sh.hits.Add(1)
	return s, true
}

// fillToken is what begin noted for one read.
type fillToken struct {
	epoch, gen uint64
	ok         bool
}

// begin is called before a read of key is sent to Redis.
func (c *localCache) begin(key string) fillToken {
	if c == nil {
		return fillToken{}
	}
	epoch := c.epoch.Load()
	if !c.up.Load() {
		return fillToken{}
	}
	sh := c.shardOf(key)
	if sh == nil {
		return fillToken{}
	}
	return fillToken{epoch: epoch, gen: sh.gen.Load(), ok: true}
}

// put stores what a read begun with t found, unless anything may have made
// it old meanwhile.
func (c *localCache) put(t fillToken, key, id string, s *Session) {
	if c == nil || !t.ok || s.ID != id {
		return
	}
	sh := c.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !c.up.Load() || c.epoch.Load() != t.epoch || sh.gen.Load() != t.gen {
		return
	}
	if _, held := sh.entries[id]; !held && len(sh.entries) >= c.perShard {
		// Go starts each map iteration at a random entry: evicting the
		// first one met is random eviction at a constant cost.
		for victim, e := range sh.entries {
			delete(sh.entries, victim)
			delete(sh.keys, e.key)
			break
		}
	}
	sh.entries[id] = cacheEntry{s: s, key: key}
	sh.keys[key] = id
}

// touched moves a cached copy's activity forward to at, after this
// instance wrote it back. It never adds an entry.
func (c *localCache) touched(key string, at time.Time) {
	if c == nil {
		return
	}
	sh := c.shardOf(key)
	if sh == nil {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	id, ok := sh.keys[key]
	if !ok {
		return
	}
	if e := sh.entries[id]; at.After(e.s.LastActivity) {
		moved := *e.s // cached records are shared read-only: replace, never change
		moved.LastActivity = at
		sh.entries[id] = cacheEntry{s: &moved, key: key}
	}
}

// drop removes key and voids the reads of its shard in flight: this
// instance changed it in Redis.
func (c *localCache) drop(key string) {
	if c == nil {
		return
	}
	if sh := c.shardOf(key); sh != nil {
		sh.mu.Lock()
		if id, ok := sh.keys[key]; ok {
			delete(sh.entries, id)
			delete(sh.keys, key)
		}
		sh.gen.Add(1)
		sh.mu.Unlock()
	}
}

// dropTag removes every session of a user tag (DeleteUser).
func (c *localCache) dropTag(tag string) {
	if c == nil {
		return
	}
	sh := c.shardOfTag(tag)
	sh.mu.Lock()
	for id, e := range sh.entries {
		if strings.HasPrefix(id, tag) {
			delete(sh.entries, id)
			delete(sh.keys, e.key)
		}
	}
	sh.gen.Add(1)
	sh.mu.Unlock()
}

// invalidate handles keys named by the invalidation stream. A user's
// index is handled like a record of the user: nothing is held under it,
// and voiding its shard's reads in flight costs a re-read at most. Keys of
// no user (another prefix) change nothing.
func (c *localCache) invalidate(keys []string) {
	for _, k := range keys {
		c.invalidations.Add(1)
		c.drop(k)
	}
}

// flush empties the cache and voids every read in flight. The epoch moves
// first, so that a put racing the flush either sees the new epoch or lands
// before the shard is emptied.
func (c *localCache) flush() {
	c.epoch.Add(1)
	c.flushes.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.entries)
		clear(sh.keys)
		sh.mu.Unlock()
	}
}

// setUp records whether every stream is subscribed. Going down empties the
// cache at once: invalidations may be lost from that moment. Coming up
// starts a new epoch, so that no read begun while down is stored.
func (c *localCache) setUp(up bool) {
	if c.up.Swap(up) == up {
		return
	}
	if up {
		c.epoch.Add(1)
		return
	}
	c.flush()
}

func (c *localCache) stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	st := CacheStats{Invalidations: c.invalidations.Load(), Flushes: c.flushes.Load(), Up: c.up.Load()}
	for i := range c.shards {
		sh := &c.shards[i]
		st.Hits += sh.hits.Load()
		st.Misses += sh.misses.Load()
		sh.mu.RLock()
		st.Entries += len(sh.entries)
		sh.mu.RUnlock()
	}
	return st
}
