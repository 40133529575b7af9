package oidc_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gate/internal/oidc"
	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
)

// testStates checks the StateStore contract on s: Take answers a state
// once, even to callers racing for it, and not after its TTL.
func testStates(t *testing.T, s oidc.StateStore, expire func(key string)) {
	ctx := context.Background()
	t.Run("take_once", func(t *testing.T) {
		if err := s.Put(ctx, "k1", []byte("v1"), time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := s.Take(ctx, "k1")
		if err != nil || string(got) != "v1" {
			t.Fatalf("Take = %q, %v; want v1", got, err)
		}
		if _, err := s.Take(ctx, "k1"); !errors.Is(err, oidc.ErrStateNotFound) {
			t.Errorf("second Take = %v; want ErrStateNotFound", err)
		}
		if _, err := s.Take(ctx, "never"); !errors.Is(err, oidc.ErrStateNotFound) {
			t.Errorf("Take of an unknown key = %v; want ErrStateNotFound", err)
		}
	})
	t.Run("concurrent_take", func(t *testing.T) {
		if err := s.Put(ctx, "k2", []byte("v2"), time.Minute); err != nil {
			t.Fatal(err)
		}
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				if _, err := s.Take(ctx, "k2"); err == nil {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if got := won.Load(); got != 1 {
			t.Errorf("%d of 16 concurrent Takes got the state; want 1", got)
		}
	})
	t.Run("expired", func(t *testing.T) {
		if err := s.Put(ctx, "k3", []byte("v3"), time.Minute); err != nil {
			t.Fatal(err)
		}
		expire("k3")
		if _, err := s.Take(ctx, "k3"); !errors.Is(err, oidc.ErrStateNotFound) {
			t.Errorf("Take after the TTL = %v; want ErrStateNotFound", err)
		}
	})
}

func TestMemoryStates(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	s := oidc.NewMemoryStates(4, clock.Now)
	testStates(t, s, func(string) { clock.Advance(time.Minute) })

	// A full store forgets expired states first, then refuses rather than
	// evict a sign-in in progress.
	full := oidc.NewMemoryStates(2, clock.Now)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if err := full.Put(ctx, k, []byte(k), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := full.Put(ctx, "c", nil, time.Minute); !errors.Is(err, oidc.ErrStateFull) {
		t.Errorf("Put into a full store = %v; want ErrStateFull", err)
	}
	clock.Advance(time.Minute)
	if err := full.Put(ctx, "c", nil, time.Minute); err != nil {
		t.Errorf("Put once the others expired = %v; want nil", err)
	}
}

func TestRedisStates(t *testing.T) {
	srv := redistest.StartServer(t, redistest.ServerOptions{})
	admin := srv.Admin()
	prefix := redistest.Prefix()
	s := oidc.NewRedisStates(admin, prefix)
	ctx := context.Background()
	if err := s.Put(ctx, "ttl", []byte("v"), oidc.StateTTL); err != nil {
		t.Fatal(err)
	}
	ttl, err := admin.PTTL(ctx, s.RedisKey("ttl")).Result()
	if err != nil || ttl <= 9*time.Minute || ttl > oidc.StateTTL {
		t.Errorf("PTTL = %v, %v; want about 10m", ttl, err)
	}
	if got, want := s.RedisKey("ttl"), prefix+"oidc:ttl"; got != want {
		t.Errorf("RedisKey = %q; want %q", got, want)
	}
	testStates(t, s, func(key string) { admin.Del(ctx, s.RedisKey(key)) })
}

// On Redis Cluster every state is one key, so one slot: no CROSSSLOT.
func TestRedisStatesCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	client := c.Admin(t)
	s := oidc.NewRedisStates(client, redistest.Prefix())
	testStates(t, s, func(key string) { client.Del(context.Background(), s.RedisKey(key)) })
}
