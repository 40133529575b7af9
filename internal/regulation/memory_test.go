package regulation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gate/internal/regulation"
)

// The memory store's clock can be moved by hand, so these tests pin its
// windows to the millisecond; the contract suite (TestCounters) covers
// what it shares with Redis.

func TestMemoryCounters_windowFromFirstReservation(t *testing.T) {
	clk := newClock()
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now})
	l := regulation.Limits{Max: 3, Window: time.Minute, Ban: 5 * time.Minute}
	for range 2 {
		failN(t, m, "k", l, 1)
		clk.Advance(20 * time.Second)
	}
	clk.Advance(20*time.Second - time.Millisecond)
	failN(t, m, "k", l, 1)
	if wait, ok := reserve(t, m, "k", l); ok || wait != l.Ban {
		t.Fatalf("third failure a millisecond before the window ends: Reserve = %v, %v; want banned for %v", wait, ok, l.Ban)
	}
	clk.Advance(l.Ban)
	if _, ok := reserve(t, m, "k", l); !ok {
		t.Error("refused at the end of the ban")
	}
}

func TestMemoryCounters_sweepsExpired(t *testing.T) {
	clk := newClock()
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now})
	l := regulation.Limits{Max: 3, Window: time.Minute, Ban: time.Hour}
	for i := range 100 {
		failN(t, m, fmt.Sprint("k", i), l, 1)
	}
	clk.Advance(2 * time.Minute)
	failN(t, m, "fresh", l, 1)
	if got := m.Len(); got != 1 {
		t.Errorf("Len = %d after the others expired; want 1", got)
	}
}

func TestMemoryCounters_bounded(t *testing.T) {
	clk := newClock()
	const maxKeys = 1000
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now, MaxKeys: maxKeys})
	l := regulation.Limits{Max: 1, Window: time.Hour, Ban: time.Hour}
	failN(t, m, "victim-ban", l, 1)
	// Spraying usernames: every key is new and live, one check in flight.
	spray := regulation.Limits{Max: 3, Window: time.Hour, Ban: time.Hour}
	for i := range 50 * maxKeys {
		mustReserve(t, m, fmt.Sprint("spray", i), spray)
		if got := m.Len(); got > maxKeys {
			t.Fatalf("Len = %d after %d keys; want at most %d", got, i+1, maxKeys)
		}
	}
	if wait, ok := reserve(t, m, "victim-ban", l); ok || wait <= 0 {
		t.Error("spraying failure counters evicted a ban")
	}
	// Bans alone beyond the bound are evicted too rather than growing.
	for i := range 2 * maxKeys {
		failN(t, m, fmt.Sprint("ban", i), l, 1)
	}
	if got := m.Len(); got > maxKeys {
		t.Errorf("Len = %d with bans only; want at most %d", got, maxKeys)
	}
}

func TestMemoryCounters_canceledContext(t *testing.T) {
	// The memory store does no I/O: an ended context changes nothing, as
	// for a release after the client went away.
	m := regulation.NewMemoryCounters(regulation.MemoryOptions{})
	l := regulation.Limits{Max: 1, Window: time.Minute, Ban: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok, err := m.Reserve(ctx, "k", l); !ok || err != nil {
		t.Fatalf("Reserve = %v, %v; want a slot", ok, err)
	}
	if err := m.Release(ctx, "k", false); err != nil {
		t.Fatal(err)
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len = %d; want 0", got)
	}
}
