package regulation_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/config"
	"gate/internal/regulation"
)

// TestRedisTwoInstances runs two Regulators, each with a Redis client of
// its own, on one Redis, as two gate instances: 16 attempts on one user
// at once, split between them, check at most max_retries passwords, and a
// ban made on one refuses on the other.
func TestRedisTwoInstances(t *testing.T) {
	rc := plainConfig(t)
	var regs [2]*regulation.Regulator
	for i := range regs {
		r, err := regulation.New(cfg, newRedisCounters(t, rc), key)
		if err != nil {
			t.Fatal(err)
		}
		regs[i] = r
	}
	const n = 16
	var (
		checked atomic.Int64
		decided sync.WaitGroup
		wg      sync.WaitGroup
	)
	decided.Add(n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			client := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
			<-start
			a, _, err := regs[i%2].Begin(context.Background(), "alice", client)
			decided.Done()
			if err != nil {
				t.Error(err)
				return
			}
			if a == nil {
				return
			}
			decided.Wait()
			checked.Add(1)
			if err := a.Fail(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := checked.Load(); got < 1 || got > int64(cfg.MaxRetries) {
		t.Errorf("%d wrong passwords checked across two instances; want 1 to %d", got, cfg.MaxRetries)
	}
	// Top up to max_retries failures if fewer were admitted, then each
	// instance sees the ban.
	for got := checked.Load(); got < int64(cfg.MaxRetries); got++ {
		fail(t, regs[0], "alice", ip1)
	}
	for i, r := range regs {
		if d := refused(t, r, "alice", ip2); d < 4*time.Minute {
			t.Errorf("instance %d: refused for %v; want about %v", i, d, cfg.BanTime)
		}
	}
}

// TestRedisKeysRevealNothing: on one server and on a Cluster, regulation
// keys and their values hold no username or address, and every key has a
// TTL.
func TestRedisKeysRevealNothing(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(testing.TB) config.Redis
		admin func(testing.TB) redis.UniversalClient
	}{
		{"single", plainConfig, func(t testing.TB) redis.UniversalClient { return plain(t).Admin() }},
		{"cluster", clusterConfig, func(t testing.TB) redis.UniversalClient { return cluster(t).Admin(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			rc := tt.cfg(t)
			admin := tt.admin(t)
			r, err := regulation.New(config.Regulation{MaxRetries: 1, FindTime: time.Minute, BanTime: 2 * time.Minute},
				newRedisCounters(t, rc), key)
			if err != nil {
				t.Fatal(err)
			}
			user, client := "alice-unique-name", netip.MustParseAddr("198.51.100.77")
			fail(t, r, user, client)
			fail(t, r, "bob-unique-name", netip.MustParseAddr("2001:db8::abcd"))
			keys := scanKeys(t, admin, rc.StatePrefix)
			if len(keys) != 4 {
				t.Fatalf("keys = %q; want a username and a client key per attempt", keys)
			}
			for _, key := range keys {
				fields, err := admin.HGetAll(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				var all strings.Builder
				all.WriteString(key)
				for k, v := range fields {
					all.WriteString(" " + k + "=" + v)
				}
				for _, leak := range []string{"alice", "bob", "unique", "198.51", "100.77", "2001:db8", "abcd"} {
					if strings.Contains(strings.TrimPrefix(all.String(), rc.StatePrefix), leak) {
						t.Errorf("key or fields %q contain %q", all.String(), leak)
					}
				}
				if ttl, err := admin.PTTL(ctx, key).Result(); err != nil || ttl <= 0 {
					t.Errorf("PTTL %s = %v, %v; want > 0", key, ttl, err)
				}
			}
		})
	}
}
