package cookie

import (
	"hash/maphash"
	"sync"
)

// verifiedCache remembers cookie values that already passed HMAC
// verification and decryption, with the id they carry. Every proxied request
// presents the same cookie again and again; securecookie's decode costs a
// dozen allocations and two MACs each time, a map hit none.
//
// Only values this codec verified are added, so an attacker cannot fill it
// with garbage; it is bounded all the same, since every login adds one.
// An entry vouches only for value→id: whether the session is alive is the
// store's question on every request, so a cached entry never extends one.
type verifiedCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

const (
	cacheShards = 64
	// 131072 entries at most, about 300 bytes each when full (the cookie
	// value, the id, the map slot): room for the sessions of 100 000 users
	// active at once. A request whose cookie is not here pays securecookie's
	// full decode, about 3.5 µs and 14 allocations.
	cacheShardMax = 2048
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]string
}

func newVerifiedCache() *verifiedCache {
	c := &verifiedCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]string)
	}
	return c
}

func (c *verifiedCache) shard(value string) *cacheShard {
	return &c.shards[maphash.String(c.seed, value)%cacheShards]
}

func (c *verifiedCache) get(value string) (string, bool) {
	s := c.shard(value)
	s.mu.RLock()
	id, ok := s.m[value]
	s.mu.RUnlock()
	return id, ok
}

func (c *verifiedCache) add(value, id string) {
	s := c.shard(value)
	s.mu.Lock()
	if len(s.m) >= cacheShardMax {
		// Drop an arbitrary entry: map iteration order is random, and a
		// dropped entry costs only one more decode.
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[value] = id
	s.mu.Unlock()
}
