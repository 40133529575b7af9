package session_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/config"
	"gate/internal/redisconn"
	"gate/internal/session"
	"gate/internal/testkit/redistest"
)

// ttlSlack is the store's allowance past a deadline (SPEC: up to a minute).
const ttlSlack = 30 * time.Second

func plainConfig(t testing.TB) config.Redis {
	c := redistest.Config()
	c.Host, c.Port = hostPort(plain(t))
	return c
}

func clusterConfig(t testing.TB) config.Redis {
	c := redistest.Config()
	c.Cluster = &config.RedisCluster{Nodes: nodes(cluster(t).Addrs)}
	return c
}

// identity is a user whose every attribute is unique to one test, so a
// scan of Redis can look for each.
type identity struct {
	user, name, email string
	groups            []string
	client            netip.Addr
}

func newIdentity() identity {
	r := strings.ToLower(rand.Text()[:10])
	return identity{
		user:   "alice" + r,
		name:   "Alice Display" + r,
		email:  "alice" + r + "@example.com",
		groups: []string{"admins" + r, "dev" + r},
		client: netip.MustParseAddr("198.51.100.77"),
	}
}

func (id identity) session(t testing.TB, s session.Store, now time.Time, rememberMe bool) *session.Session {
	t.Helper()
	sid, err := s.NewID(id.user)
	if err != nil {
		t.Fatal(err)
	}
	rec := &session.Session{
		ID: sid, User: id.user, DisplayName: id.name, Email: id.email, Groups: id.groups,
		CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour), Inactivity: 5 * time.Minute,
	}
	if rememberMe {
		rec.RememberMe, rec.Inactivity, rec.ExpiresAt = true, 0, now.Add(30*24*time.Hour)
	}
	if err := s.Create(context.Background(), rec); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return rec
}

// scanKeys returns every key under prefix, on every master of a cluster.
func scanKeys(t testing.TB, admin redis.UniversalClient, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		return it.Err()
	}
	var err error
	if cc, ok := admin.(*redis.ClusterClient); ok {
		var mu = make(chan struct{}, 1)
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu <- struct{}{}
			defer func() { <-mu }()
			return scan(ctx, c)
		})
	} else {
		err = scan(ctx, admin.(*redis.Client))
	}
	if err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	return keys
}

// TestRedisKeysRevealNothing checks the stored data: every key carries a
// configured prefix and a TTL bounded by the remaining life, no key or
// value holds a user name, display name, email, group, client address or
// session id, a key read from Redis is no session id, and on a Cluster a
// user's keys share one hash slot.
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
			cfg := tt.cfg(t)
			admin := tt.admin(t)
			s := newRedisStore(t, cfg, time.Now)
			id := newIdentity()
			now := time.Now()
			short := id.session(t, s, now, false)
			long := id.session(t, s, now, true)

			// Regulation keys are regulation's: its tests check them.
			sessionKeys := scanKeys(t, admin, cfg.SessionPrefix)
			// Two records and the index.
			if len(sessionKeys) != 3 {
				t.Fatalf("keys = %q; want 3 session keys", sessionKeys)
			}

			secrets := []string{id.user, id.name, id.email, id.groups[0], id.groups[1], id.client.String(),
				short.ID, long.ID, short.ID[strings.IndexByte(short.ID, '.')+1:], long.ID[strings.IndexByte(long.ID, '.')+1:]}
			var slots []int64
			for _, key := range sessionKeys {
				typ, err := admin.Type(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				var value []byte
				switch typ {
				case "string":
					v, err := admin.Get(ctx, key).Bytes()
					if err != nil {
						t.Fatal(err)
					}
					value = v
				case "zset":
					members, err := admin.ZRange(ctx, key, 0, -1).Result()
					if err != nil {
						t.Fatal(err)
					}
					value = []byte(strings.Join(members, "\n"))
				default:
					t.Fatalf("key %s has type %s", key, typ)
				}
				for _, secret := range secrets {
					if strings.Contains(key, secret) || bytes.Contains(value, []byte(secret)) {
						t.Errorf("key %s or its value contains %q", key, secret)
					}
				}
				ttl, err := admin.PTTL(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				if ttl <= 0 {
					t.Errorf("PTTL %s = %v; want > 0", key, ttl)
				}
				if strings.HasPrefix(key, cfg.SessionPrefix) {
					slot, err := admin.ClusterKeySlot(ctx, key).Result()
					if err == nil {
						slots = append(slots, slot)
					}
				}
				// A key, or any part of it, is no session id.
				for _, part := range append([]string{key}, strings.Split(key, ":")...) {
					if _, err := s.Get(ctx, part); !errors.Is(err, session.ErrNotFound) {
						t.Errorf("Get(%q) = %v; want ErrNotFound", part, err)
					}
				}
			}
			if tt.name == "cluster" {
				for _, slot := range slots {
					if slot != slots[0] {
						t.Errorf("session keys in slots %v; want one slot per user", slots)
						break
					}
				}
			}

			// TTLs follow SPEC 8.15.
			checkTTL := func(what string, key string, want time.Duration) {
				t.Helper()
				ttl, err := admin.PTTL(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				// want was measured after the TTL was set; allow a second.
				if ttl > want+ttlSlack+time.Second || ttl < want-5*time.Second {
					t.Errorf("PTTL of the %s = %v; want %v plus at most %v", what, ttl, want, ttlSlack)
				}
			}
			var records []string
			var index string
			for _, key := range sessionKeys {
				if strings.HasSuffix(key, ":index") {
					index = key
				} else {
					records = append(records, key)
				}
			}
			var shortKey, longKey string
			for _, key := range records {
				if ttl, _ := admin.PTTL(ctx, key).Result(); ttl > 2*time.Hour {
					longKey = key
				} else {
					shortKey = key
				}
			}
			// A record lives to its absolute expiry: activity has a key of its
			// own (written by Touch), so that write-backs leave the record,
			// which every instance's cache tracks, alone.
			checkTTL("session", shortKey, time.Until(short.ExpiresAt))
			checkTTL("remember-me session", longKey, time.Until(long.ExpiresAt))
			checkTTL("index (longest session)", index, time.Until(long.ExpiresAt))
		})
	}
}

// TestRedisTouchMovesTTL checks that Touch writes the activity to the
// activity key, whose TTL follows the inactivity deadline but never passes
// the absolute expiry, and leaves the record and the index alone.
func TestRedisTouchMovesTTL(t *testing.T) {
	tests := []struct {
		name       string
		expiration time.Duration
		want       time.Duration // remaining life after a touch 4 minutes in
	}{
		{"inactivity_deadline", time.Hour, 5 * time.Minute},
		{"absolute_expiry_first", 6 * time.Minute, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := plainConfig(t)
			admin := plain(t).Admin()
			start := time.Now()
			now := start
			s := newRedisStore(t, cfg, func() time.Time { return now })
			id := newIdentity()
			sid, err := s.NewID(id.user)
			if err != nil {
				t.Fatal(err)
			}
			rec := &session.Session{ID: sid, User: id.user, CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(tt.expiration), Inactivity: 5 * time.Minute}
			if err := s.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			record, index := recordAndIndex(t, admin, cfg.SessionPrefix)
			before := map[string]string{}
			for _, k := range []string{record, index} {
				before[k] = admin.Dump(ctx, k).Val()
			}

			now = start.Add(4 * time.Minute)
			if err := s.Touch(ctx, rec.ID, now); err != nil {
				t.Fatalf("Touch: %v", err)
			}
			// Redis's clock has not moved 4 minutes: the TTL is the remaining
			// life by the store's clock, plus the slack.
			activity := activityKey(cfg.SessionPrefix, record)
			got, err := admin.PTTL(ctx, activity).Result()
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want + ttlSlack; got > want || got < want-5*time.Second {
				t.Errorf("PTTL of the activity key after Touch = %v; want about %v", got, want)
			}
			for _, k := range []string{record, index} {
				if after := admin.Dump(ctx, k).Val(); after != before[k] {
					t.Errorf("Touch changed %s; want it left alone", k)
				}
				if got := admin.PTTL(ctx, k).Val(); got < tt.expiration+ttlSlack-5*time.Second {
					t.Errorf("PTTL %s after Touch = %v; want the absolute expiry, about %v", k, got, tt.expiration+ttlSlack)
				}
			}
		})
	}
}

// TestRedisTouchUpgradesOldRecords checks that a record written before
// activity keys existed (TTL and index score the inactivity deadline)
// stays valid, and that its first Touch gives it the absolute expiry as
// TTL and index score, so that later Touches leave it alone.
func TestRedisTouchUpgradesOldRecords(t *testing.T) {
	ctx := context.Background()
	cfg := plainConfig(t)
	admin := plain(t).Admin()
	start := time.Now()
	now := start
	s := newRedisStore(t, cfg, func() time.Time { return now })
	rec := newIdentity().session(t, s, now, false)
	record, index := recordAndIndex(t, admin, cfg.SessionPrefix)
	// The earlier layout: TTL and score at the inactivity deadline.
	deadline := rec.Deadline()
	member := record[strings.LastIndexByte(record, ':')+1:]
	admin.PExpire(ctx, record, time.Until(deadline)+ttlSlack)
	admin.ZAdd(ctx, index, redis.Z{Score: float64(deadline.UnixMilli()), Member: member})
	if _, err := s.Get(ctx, rec.ID); err != nil {
		t.Fatalf("Get of an earlier record: %v", err)
	}

	now = start.Add(time.Minute)
	if err := s.Touch(ctx, rec.ID, now); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	// By the store's clock, a minute on.
	if got, want := admin.PTTL(ctx, record).Val(), time.Until(rec.ExpiresAt)-time.Minute+ttlSlack; got < want-5*time.Second || got > want+time.Second {
		t.Errorf("record PTTL after the first Touch = %v; want about %v", got, want)
	}
	if got, want := admin.ZScore(ctx, index, member).Val(), float64(rec.ExpiresAt.UnixMilli()); got != want {
		t.Errorf("index score after the first Touch = %v; want the absolute expiry %v", got, want)
	}
	if got, err := s.Get(ctx, rec.ID); err != nil || !got.LastActivity.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("Get after Touch = %v, %v; want activity %v", got, err, now)
	}
}

// recordAndIndex returns the one record and the index under prefix.
func recordAndIndex(t *testing.T, admin *redis.Client, prefix string) (record, index string) {
	t.Helper()
	for _, k := range scanKeys(t, admin, prefix) {
		switch {
		case strings.HasSuffix(k, ":index"):
			index = k
		case strings.HasPrefix(k, prefix+"{"):
			record = k
		}
	}
	if record == "" || index == "" {
		t.Fatalf("record %q, index %q; want both", record, index)
	}
	return record, index
}

// activityKey is the activity key of a record: the store's layout, as an
// operator would see it.
func activityKey(prefix, record string) string {
	return prefix + "a" + strings.TrimPrefix(record, prefix)
}

// TestRedisIndexStaysBounded checks that the per-user index forgets ended
// and deleted sessions, so it never grows with the logins of a user.
func TestRedisIndexStaysBounded(t *testing.T) {
	ctx := context.Background()
	cfg := plainConfig(t)
	admin := plain(t).Admin()
	now := time.Now()
	s := newRedisStore(t, cfg, func() time.Time { return now })
	id := newIdentity()
	for range 20 {
		id.session(t, s, now, false)
	}
	deleted := id.session(t, s, now, false)
	if err := s.Delete(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	var index string
	for _, k := range scanKeys(t, admin, cfg.SessionPrefix) {
		if strings.HasSuffix(k, ":index") {
			index = k
		}
	}
	if n := admin.ZCard(ctx, index).Val(); n != 20 {
		t.Fatalf("index holds %d ids; want 20 (the deleted one removed)", n)
	}
	// All 20 past their absolute expiry (the index's score: idle
	// sessions stay filed until then); the next login prunes them.
	now = now.Add(time.Hour + time.Second)
	id.session(t, s, now, false)
	if n := admin.ZCard(ctx, index).Val(); n != 1 {
		t.Errorf("index holds %d ids after the others ended; want 1", n)
	}
}

// TestRedisRejectsForeignIDs checks that Create takes only ids NewID
// issued for the record's user: a session filed under another user's tag
// would escape DeleteUser.
func TestRedisRejectsForeignIDs(t *testing.T) {
	ctx := context.Background()
	s := newRedisStore(t, plainConfig(t), time.Now)
	bobs, err := s.NewID("bob")
	if err != nil {
		t.Fatal(err)
	}
	plainID, err := session.RandomID()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{bobs, plainID, "short.id", strings.Repeat("{", 70)} {
		now := time.Now()
		rec := &session.Session{ID: id, User: "alice", CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.Create(ctx, rec); err == nil || errors.Is(err, session.ErrExists) {
			t.Errorf("Create(id %.12q… for alice) = %v; want a rejection", id, err)
		}
	}
}

// TestRedisTamperedRecords checks that a record changed in Redis, or
// copied under another session's key, is no session.
func TestRedisTamperedRecords(t *testing.T) {
	ctx := context.Background()
	cfg := plainConfig(t)
	admin := plain(t).Admin()
	now := time.Now()
	s := newRedisStore(t, cfg, time.Now)
	id := newIdentity()
	a := id.session(t, s, now, false)
	b := id.session(t, s, now, false)
	var records []string
	for _, k := range scanKeys(t, admin, cfg.SessionPrefix) {
		if !strings.HasSuffix(k, ":index") {
			records = append(records, k)
		}
	}
	// Which record is a's: the one whose change breaks a.
	original := map[string]string{}
	for _, k := range records {
		original[k] = admin.Get(ctx, k).Val()
	}
	restore := func() {
		for k, v := range original {
			admin.Set(ctx, k, v, time.Hour)
		}
	}

	tests := []struct {
		name   string
		tamper func(v string) string
	}{
		{"ciphertext_bit", func(v string) string { return v[:len(v)-1] + string(v[len(v)-1]^1) }},
		{"later_expiry", func(v string) string { return v[:17] + "9" + v[18:] }},
		{"no_inactivity_limit", func(v string) string { return v[:33] + strings.Repeat("0", 16) + v[49:] }},
		{"truncated", func(v string) string { return v[:60] }},
		{"garbage", func(string) string { return "not a record" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Cleanup(restore)
			for _, k := range records {
				admin.Set(ctx, k, tt.tamper(original[k]), time.Hour)
			}
			for _, rec := range []*session.Session{a, b} {
				if got, err := s.Get(ctx, rec.ID); !errors.Is(err, session.ErrNotFound) {
					t.Errorf("Get = %v, %v; want ErrNotFound", got, err)
				}
			}
		})
	}
	t.Run("swapped_keys", func(t *testing.T) {
		t.Cleanup(restore)
		admin.Set(ctx, records[0], original[records[1]], time.Hour)
		admin.Set(ctx, records[1], original[records[0]], time.Hour)
		for _, rec := range []*session.Session{a, b} {
			if got, err := s.Get(ctx, rec.ID); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("Get = %v, %v; want ErrNotFound", got, err)
			}
		}
	})
	t.Run("intact_again", func(t *testing.T) {
		for _, rec := range []*session.Session{a, b} {
			if _, err := s.Get(ctx, rec.ID); err != nil {
				t.Errorf("Get after restoring = %v", err)
			}
		}
	})
}

// TestRedisSharedBetweenInstances runs two stores with their own clients
// on one Redis, as two gate instances: each sees the other's logins,
// activity, logouts and revocations at once. (Shared bans are tested in
// internal/regulation.)
func TestRedisSharedBetweenInstances(t *testing.T) {
	ctx := context.Background()
	cfg := plainConfig(t)
	a := newRedisStore(t, cfg, time.Now)
	b := newRedisStore(t, cfg, time.Now)
	id := newIdentity()
	now := time.Now()

	s := id.session(t, a, now, false)
	got, err := b.Get(ctx, s.ID)
	if err != nil {
		t.Fatalf("login on a, Get on b: %v", err)
	}
	if got.User != id.user || got.Email != id.email {
		t.Errorf("b reads %q %q; want %q %q", got.User, got.Email, id.user, id.email)
	}
	touched := now.Add(time.Minute)
	if err := b.Touch(ctx, s.ID, touched); err != nil {
		t.Fatalf("Touch on b: %v", err)
	}
	if got, err := a.Get(ctx, s.ID); err != nil || got.LastActivity.UnixMilli() != touched.UnixMilli() {
		t.Errorf("a reads activity %v, %v; want %v", got.LastActivity, err, touched)
	}
	if err := b.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("logout on b, Get on a = %v; want ErrNotFound", err)
	}

	var ids []string
	for range 3 {
		ids = append(ids, id.session(t, a, now, false).ID)
	}
	if n, err := b.DeleteUser(ctx, id.user); err != nil || n != 3 {
		t.Errorf("DeleteUser on b = %d, %v; want 3", n, err)
	}
	for _, sid := range ids {
		if _, err := a.Get(ctx, sid); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("revoked on b, Get on a = %v; want ErrNotFound", err)
		}
	}
}

// TestRedisSurvivesRestart checks that sessions outlive the gate process:
// a store on a new client reads what the old one wrote.
func TestRedisSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	cfg := plainConfig(t)
	first := newRedisStore(t, cfg, time.Now)
	id := newIdentity()
	s := id.session(t, first, time.Now(), true)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := newRedisStore(t, cfg, time.Now)
	got, err := second.Get(ctx, s.ID)
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if got.User != id.user || !got.RememberMe {
		t.Errorf("Get after restart = %q remember-me %v; want %q, true", got.User, got.RememberMe, id.user)
	}
}

// TestRedisOutage stops Redis under a store: every operation fails (never
// "not found"), errors name the server, and once Redis is back on the same
// port the same store serves again.
func TestRedisOutage(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t, redistest.ServerOptions{Password: requirePass})
	cfg := redistest.Config()
	cfg.Host, cfg.Port = hostPort(srv)
	cfg.Password = requirePass
	cfg.Timeout = time.Second
	s := newRedisStore(t, cfg, time.Now)
	id := newIdentity()
	rec := id.session(t, s, time.Now(), false)

	srv.Stop()
	check := func(op string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrExists) {
			t.Errorf("%s with Redis down = %v; want a store error", op, err)
			return
		}
		if !strings.Contains(err.Error(), srv.Addr) || strings.Contains(err.Error(), requirePass) {
			t.Errorf("%s error %q; want one naming %s and not the password", op, err, srv.Addr)
		}
	}
	_, err := s.Get(ctx, rec.ID)
	check("Get", err)
	check("Touch", s.Touch(ctx, rec.ID, time.Now()))
	check("Delete", s.Delete(ctx, rec.ID))
	_, err = s.DeleteUser(ctx, id.user)
	check("DeleteUser", err)
	check("Ping", s.Ping(ctx))
	sid, _ := s.NewID(id.user)
	now := time.Now()
	check("Create", s.Create(ctx, &session.Session{ID: sid, User: id.user, CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour)}))

	srv.Restart(t)
	redistest.Eventually(t, 10*time.Second, func() error { return s.Ping(ctx) })
	// The server kept nothing (no persistence in tests); the store works.
	fresh := id.session(t, s, time.Now(), false)
	if _, err := s.Get(ctx, fresh.ID); err != nil {
		t.Errorf("Get after recovery: %v", err)
	}
}

// TestRedisSentinelFailover forces a failover: the session written to the
// old master reads from the new one, and logins work again within a
// bounded time.
func TestRedisSentinelFailover(t *testing.T) {
	ctx := context.Background()
	g := sentinels(t)
	cfg := redistest.Config()
	cfg.Password = masterPass
	cfg.Timeout = time.Second
	cfg.HighAvailability = &config.RedisSentinel{SentinelName: redistest.MasterName, SentinelPassword: sentinelPass, Nodes: nodes(g.Addrs)}
	s := newRedisStore(t, cfg, time.Now)
	id := newIdentity()
	before := id.session(t, s, time.Now(), false)

	g.Failover(t)

	redistest.Eventually(t, 30*time.Second, func() error {
		if _, err := s.Get(ctx, before.ID); err != nil {
			return fmt.Errorf("Get of the session from before: %w", err)
		}
		sid, err := s.NewID(id.user)
		if err != nil {
			return err
		}
		now := time.Now()
		rec := &session.Session{ID: sid, User: id.user, CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.Create(ctx, rec); err != nil {
			return fmt.Errorf("Create after the failover: %w", err)
		}
		return nil
	})
	if n, err := s.DeleteUser(ctx, id.user); err != nil || n < 2 {
		t.Errorf("DeleteUser after the failover = %d, %v; want at least 2", n, err)
	}
}

// TestRedisSentinelReadsFromReplicas builds the client that routes reads
// to replicas (route_by_latency, route_randomly): writes still reach the
// master, and reads find them once replicated.
func TestRedisSentinelReadsFromReplicas(t *testing.T) {
	for _, route := range []string{"route_by_latency", "route_randomly"} {
		t.Run(route, func(t *testing.T) {
			ctx := context.Background()
			g := sentinels(t)
			cfg := redistest.Config()
			cfg.Password = masterPass
			cfg.HighAvailability = &config.RedisSentinel{
				SentinelName: redistest.MasterName, SentinelPassword: sentinelPass, Nodes: nodes(g.Addrs),
				RouteByLatency: route == "route_by_latency", RouteRandomly: route == "route_randomly",
			}
			s := newRedisStore(t, cfg, time.Now)
			id := newIdentity()
			rec := id.session(t, s, time.Now(), false)
			redistest.Eventually(t, 10*time.Second, func() error {
				_, err := s.Get(ctx, rec.ID)
				return err
			})
			if err := s.Touch(ctx, rec.ID, time.Now().Add(time.Minute)); err != nil {
				t.Errorf("Touch: %v", err)
			}
		})
	}
}

// commandCalls reads INFO commandstats: calls per command.
func commandCalls(t testing.TB, admin *redis.Client) map[string]int {
	t.Helper()
	info, err := admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		calls[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return calls
}

// commandCounter is a go-redis hook counting the commands a client sends,
// one round trip each; a pipeline counts once.
type commandCounter struct {
	mu    sync.Mutex
	names []string
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.names = append(c.names, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		c.names = append(c.names, "pipeline")
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the commands counted since the last take, by name.
func (c *commandCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for _, n := range c.names {
		m[n]++
	}
	c.names = nil
	return m
}

// TestRedisRoundTrips counts what the store sends and what Redis serves:
// the common path, Get, is exactly one MGET (record and activity), and
// Touch one script call.
func TestRedisRoundTrips(t *testing.T) {
	if redistest.ExternalURL() != "" {
		t.Skip("counts commands server-wide; needs a server of its own")
	}
	ctx := context.Background()
	admin := plain(t).Admin()
	cfg := plainConfig(t)
	client, _, err := redisconn.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	counter := &commandCounter{}
	client.AddHook(counter)
	s, err := session.NewRedis(client, session.RedisOptions{RecordKey: testKeys(t).RecordCipher, NameKey: testKeys(t).KeyHash, Prefix: cfg.SessionPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	id := newIdentity()
	rec := id.session(t, s, time.Now(), false)
	// Warm up: the connection's handshake and the script cache.
	if _, err := s.Get(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx, rec.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	counter.take()

	const n = 50
	before := commandCalls(t, admin)
	for range n {
		if _, err := s.Get(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
	}
	after := commandCalls(t, admin)
	served := map[string]int{}
	for name, calls := range after {
		if d := calls - before[name]; d > 0 && name != "info" {
			served[name] = d
		}
	}
	if len(served) != 1 || served["mget"] != n {
		t.Errorf("%d Gets made Redis serve %v; want exactly %d MGET", n, served, n)
	}
	if sent := counter.take(); len(sent) != 1 || sent["mget"] != n {
		t.Errorf("%d Gets sent %v; want exactly %d MGET", n, sent, n)
	}

	for i := range n {
		if err := s.Touch(ctx, rec.ID, time.Now().Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if sent := counter.take(); len(sent) != 1 || sent["evalsha"] != n {
		t.Errorf("%d Touches sent %v; want exactly %d EVALSHA", n, sent, n)
	}
}

func BenchmarkRedisGet(b *testing.B) {
	ctx := context.Background()
	s := newRedisStore(b, plainConfig(b), time.Now)
	rec := newIdentity().session(b, s, time.Now(), true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, rec.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisGetCached is BenchmarkRedisGet with the local cache: a
// hit, the decoded session.
func BenchmarkRedisGetCached(b *testing.B) {
	ctx := context.Background()
	cfg := plainConfig(b)
	s := newCachedStore(b, cfg, time.Now)
	waitCache(b, s, true)
	rec := newIdentity().session(b, s, time.Now(), true)
	for s.CacheStats().Entries == 0 {
		if _, err := s.Get(ctx, rec.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Get(ctx, rec.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoRedisCSCGet is go-redis 9.23's own client-side cache (RESP3)
// answering a GET of a session-sized value from memory: the raw reply,
// which the store would still have to parse and decrypt
// (BenchmarkRecordOpen) and whose key it would still have to hash.
func BenchmarkGoRedisCSCGet(b *testing.B) {
	ctx := context.Background()
	o := plain(b).Admin().Options()
	o.Protocol = 3
	o.ClientSideCacheConfig = &redis.ClientSideCacheConfig{MaxEntries: 1024}
	c := redis.NewClient(o)
	defer c.Close()
	key := redistest.Prefix() + "csc"
	if err := c.Set(ctx, key, strings.Repeat("x", 200), time.Minute).Err(); err != nil {
		b.Fatal(err)
	}
	for range 3 {
		if err := c.Get(ctx, key).Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Get(ctx, key).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
