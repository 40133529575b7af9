package regulation_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gate/internal/regulation"
)

func TestMemoryCounters_fail(t *testing.T) {
	clk := newClock()
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now})
	ctx := context.Background()
	for i := int64(1); i <= 3; i++ {
		n, _ := m.Fail(ctx, "k", time.Minute)
		if n != i {
			t.Fatalf("Fail #%d = %d; want %d", i, n, i)
		}
		clk.Advance(20 * time.Second)
	}
	// The window runs from the first failure, not the last.
	if n, _ := m.Fail(ctx, "k", time.Minute); n != 1 {
		t.Errorf("Fail a minute after the first = %d; want 1, a new window", n)
	}
	if err := m.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Fail(ctx, "k", time.Minute); n != 1 {
		t.Errorf("Fail after Reset = %d; want 1", n)
	}
}

func TestMemoryCounters_ban(t *testing.T) {
	clk := newClock()
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now})
	ctx := context.Background()
	if d, _ := m.Banned(ctx, "k"); d != 0 {
		t.Errorf("Banned before Ban = %v; want 0", d)
	}
	m.Ban(ctx, "k", time.Minute)
	clk.Advance(30 * time.Second)
	m.Ban(ctx, "k", time.Minute)
	if d, _ := m.Banned(ctx, "k"); d != 30*time.Second {
		t.Errorf("Banned = %v; want 30s: a running ban is not extended", d)
	}
	clk.Advance(30 * time.Second)
	if d, _ := m.Banned(ctx, "k"); d != 0 {
		t.Errorf("Banned after the end = %v; want 0", d)
	}
}

func TestMemoryCounters_sweepsExpired(t *testing.T) {
	clk := newClock()
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now})
	ctx := context.Background()
	for i := range 100 {
		m.Fail(ctx, fmt.Sprint("k", i), time.Minute)
	}
	clk.Advance(2 * time.Minute)
	m.Fail(ctx, "fresh", time.Minute)
	if got := m.Len(); got != 1 {
		t.Errorf("Len = %d after the others expired; want 1", got)
	}
}

func TestMemoryCounters_bounded(t *testing.T) {
	clk := newClock()
	const maxKeys = 1000
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now, MaxKeys: maxKeys})
	ctx := context.Background()
	m.Fail(ctx, "victim-ban", time.Hour)
	m.Ban(ctx, "victim-ban", time.Hour)
	// Spraying usernames: every key is new and live.
	for i := range 50 * maxKeys {
		m.Fail(ctx, fmt.Sprint("spray", i), time.Hour)
		if got := m.Len(); got > maxKeys {
			t.Fatalf("Len = %d after %d keys; want at most %d", got, i+1, maxKeys)
		}
	}
	if d, _ := m.Banned(ctx, "victim-ban"); d <= 0 {
		t.Error("spraying failure counters evicted a ban")
	}
	// Bans alone beyond the bound are evicted too rather than growing.
	for i := range 2 * maxKeys {
		m.Ban(ctx, fmt.Sprint("ban", i), time.Hour)
	}
	if got := m.Len(); got > maxKeys {
		t.Errorf("Len = %d with bans only; want at most %d", got, maxKeys)
	}
}

func TestMemoryCounters_concurrent(t *testing.T) {
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.Fail(ctx, "k", time.Minute)
			}
		})
	}
	wg.Wait()
	if n, _ := m.Fail(ctx, "k", time.Minute); n != 801 {
		t.Errorf("count = %d; want 801", n)
	}
}
