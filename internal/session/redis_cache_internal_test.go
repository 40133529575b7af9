package session

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// cacheFixture is a cache that is up, and a session of tag T under key.
func cacheFixture(t *testing.T, maxEntries int) *localCache {
	t.Helper()
	c := newLocalCache("p:", maxEntries)
	c.setUp(true)
	return c
}

func testTag(i int) string { return fmt.Sprintf("%0*d", tagLen, i) }

func testEntry(tag string, n int, now time.Time) (key, id string, s *Session) {
	id = tag + "." + strings.Repeat(string(rune('a'+n%26)), 43)
	key = "p:{" + tag + "}:" + fmt.Sprintf("%0*d", hashLen, n)
	return key, id, &Session{ID: id, User: "u", ExpiresAt: now.Add(time.Hour), LastActivity: now, Inactivity: time.Minute}
}

// TestLocalCacheRaceRule checks, step by step, that a read is stored only
// if nothing that could make it old happened while it was out.
func TestLocalCacheRaceRule(t *testing.T) {
	now := time.Now()
	tag := testTag(1)
	tests := []struct {
		name   string
		during func(c *localCache, key string)
		stored bool
	}{
		{"nothing_happens", func(*localCache, string) {}, true},
		{"its_key_invalidated", func(c *localCache, key string) { c.invalidate([]string{key}) }, false},
		{"another_key_of_its_shard_invalidated", func(c *localCache, _ string) {
			other, _, _ := testEntry(tag, 2, now)
			c.invalidate([]string{other})
		}, false},
		{"dropped_by_this_instance", func(c *localCache, key string) { c.drop(key) }, false},
		{"its_user_revoked_here", func(c *localCache, _ string) { c.dropTag(tag) }, false},
		{"flushed", func(c *localCache, _ string) { c.flush() }, false},
		{"stream_down", func(c *localCache, _ string) { c.setUp(false) }, false},
		{"stream_down_and_up_again", func(c *localCache, _ string) { c.setUp(false); c.setUp(true) }, false},
		{"index_key_invalidated", func(c *localCache, _ string) { c.invalidate([]string{"p:{" + tag + "}:index"}) }, false},
		{"foreign_key_invalidated", func(c *localCache, _ string) { c.invalidate([]string{"other:key"}) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cacheFixture(t, 100)
			key, id, s := testEntry(tag, 1, now)
			fill := c.begin(key)
			tt.during(c, key)
			c.put(fill, key, id, s)
			c.setUp(true)
			_, got := c.get(tag, id, now)
			if got != tt.stored {
				t.Errorf("stored = %v; want %v", got, tt.stored)
			}
		})
	}
}

// TestLocalCacheDown checks that a cache whose stream is down neither
// answers nor fills, and that going down empties it.
func TestLocalCacheDown(t *testing.T) {
	now := time.Now()
	c := cacheFixture(t, 100)
	key, id, s := testEntry(testTag(1), 1, now)
	c.put(c.begin(key), key, id, s)
	if _, ok := c.get(testTag(1), id, now); !ok {
		t.Fatal("not cached while up")
	}
	c.setUp(false)
	if _, ok := c.get(testTag(1), id, now); ok {
		t.Error("answered while down")
	}
	c.put(c.begin(key), key, id, s)
	c.setUp(true)
	if _, ok := c.get(testTag(1), id, now); ok {
		t.Error("held a session across a down stream, or filled while down")
	}
	if st := c.stats(); st.Entries != 0 || st.Flushes != 1 {
		t.Errorf("stats = %+v; want no entries and one flush", st)
	}
}

// TestLocalCacheDeadlines checks that hits are judged on their deadlines:
// a copy past its inactivity deadline or its expiry is a miss.
func TestLocalCacheDeadlines(t *testing.T) {
	now := time.Now()
	c := cacheFixture(t, 100)
	key, id, s := testEntry(testTag(1), 1, now)
	c.put(c.begin(key), key, id, s)
	for _, tt := range []struct {
		at  time.Time
		hit bool
	}{
		{now.Add(59 * time.Second), true},
		{now.Add(time.Minute), false}, // idle: Redis may know later activity
		{now.Add(2 * time.Hour), false},
	} {
		if _, ok := c.get(testTag(1), id, tt.at); ok != tt.hit {
			t.Errorf("get at %v = %v; want %v", tt.at.Sub(now), ok, tt.hit)
		}
	}
	// This instance's own write-back moves the copy's activity.
	c.touched(key, now.Add(50*time.Second))
	if _, ok := c.get(testTag(1), id, now.Add(100*time.Second)); !ok {
		t.Error("miss after this instance's Touch moved the activity")
	}
}

// TestLocalCacheBound checks that the cache never holds more than its
// bound, per shard, and that evicted entries leave no key behind.
func TestLocalCacheBound(t *testing.T) {
	now := time.Now()
	c := cacheFixture(t, cacheShards) // one entry per shard
	for i := range 1000 {
		key, id, s := testEntry(testTag(i), i, now)
		c.put(c.begin(key), key, id, s)
	}
	for i := range c.shards {
		sh := &c.shards[i]
		if len(sh.entries) > 1 || len(sh.keys) != len(sh.entries) {
			t.Fatalf("shard %d: %d entries, %d keys; want at most 1, as many keys", i, len(sh.entries), len(sh.keys))
		}
	}
}
