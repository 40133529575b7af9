package cookie

import (
	"strconv"
	"testing"
)

func TestVerifiedCacheBounded(t *testing.T) {
	c := newVerifiedCache()
	for i := 0; i < 4*cacheShards*cacheShardMax; i++ {
		c.add("value-"+strconv.Itoa(i), "id")
	}
	total := 0
	for i := range c.shards {
		n := len(c.shards[i].m)
		if n > cacheShardMax {
			t.Fatalf("shard %d holds %d entries; max %d", i, n, cacheShardMax)
		}
		total += n
	}
	if total > cacheShards*cacheShardMax {
		t.Errorf("cache holds %d entries; max %d", total, cacheShards*cacheShardMax)
	}
	if id, ok := c.get("value-" + strconv.Itoa(4*cacheShards*cacheShardMax-1)); !ok || id != "id" {
		t.Error("the newest entry is missing")
	}
}

func TestDecodeCachesOnlyVerifiedValues(t *testing.T) {
	hk := make([]byte, 64)
	bk := make([]byte, 32)
	codec, err := New(Config{Name: "s", HashKey: hk, BlockKey: bk})
	if err != nil {
		t.Fatal(err)
	}
	value, err := codec.sc.Encode("s", []byte("the-id"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if id, ok := codec.decode(value); !ok || id != "the-id" {
			t.Fatalf("decode #%d = %q, %v", i, id, ok)
		}
	}
	if id, ok := codec.verified.get(value); !ok || id != "the-id" {
		t.Error("verified value not cached")
	}
	tampered := value[:len(value)-2] + "AA"
	if _, ok := codec.decode(tampered); ok {
		t.Fatal("tampered value decoded")
	}
	if _, ok := codec.verified.get(tampered); ok {
		t.Error("tampered value cached")
	}
}
