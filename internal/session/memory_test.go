package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"gate/internal/session"
	"gate/internal/session/sessiontest"
	"gate/internal/testkit"
)

func TestMemoryStore(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T, clock *testkit.Clock) session.Store {
		return session.NewMemory(session.MemoryOptions{Now: clock.Now})
	})
}

// newMemory returns a store without background cleanup, so only the test
// decides when sessions are removed.
func newMemory(t testing.TB, clock *testkit.Clock, limit int) *session.Memory {
	t.Helper()
	m := session.NewMemory(session.MemoryOptions{Now: clock.Now, MaxSessions: limit, CleanupInterval: -1})
	t.Cleanup(func() { m.Close() })
	return m
}

// record returns a session of user that ends at end, whatever its activity.
func record(t testing.TB, user string, now, end time.Time) *session.Session {
	t.Helper()
	id, err := session.RandomID()
	if err != nil {
		t.Fatal(err)
	}
	return &session.Session{ID: id, User: user, CreatedAt: now, LastActivity: now, ExpiresAt: end}
}

func mustCreate(t testing.TB, m *session.Memory, s *session.Session) {
	t.Helper()
	if err := m.Create(context.Background(), s); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

func checkIndex(t testing.TB, m *session.Memory) {
	t.Helper()
	if err := m.CheckIndex(); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryBoundEvictsEarliestDeadline(t *testing.T) {
	const limit = 4
	clock := testkit.NewClock(time.Now())
	m := newMemory(t, clock, limit)
	ctx := context.Background()
	now := clock.Now()

	// Each session ends later than the ones before, so the one to go is
	// always the oldest still held.
	var all []*session.Session
	for i := range 40 {
		s := record(t, fmt.Sprintf("user%d", i), now, now.Add(time.Hour+time.Duration(i)*time.Minute))
		mustCreate(t, m, s)
		all = append(all, s)

		if got := m.Len(); got > limit {
			t.Fatalf("after %d creates: Len() = %d; want <= %d", i+1, got, limit)
		}
		for j, old := range all {
			_, err := m.Get(ctx, old.ID)
			wantHeld := j > i-limit
			if held := err == nil; held != wantHeld {
				t.Fatalf("after %d creates: session %d held = %v (%v); want %v", i+1, j, held, err, wantHeld)
			}
			if !wantHeld {
				if n := m.IndexedIDs(old.User); n != 0 {
					t.Fatalf("index keeps %d ids of evicted %s", n, old.User)
				}
			}
		}
		checkIndex(t, m)
	}
}

func TestMemoryBoundDropsEndedFirst(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	m := newMemory(t, clock, 3)
	ctx := context.Background()
	now := clock.Now()

	endedA := record(t, "a", now, now.Add(time.Minute))
	endedB := record(t, "b", now, now.Add(2*time.Minute))
	live := record(t, "c", now, now.Add(time.Hour))
	for _, s := range []*session.Session{endedA, endedB, live} {
		mustCreate(t, m, s)
	}
	clock.Advance(3 * time.Minute)

	mustCreate(t, m, record(t, "d", clock.Now(), clock.Now().Add(time.Hour)))
	if _, err := m.Get(ctx, live.ID); err != nil {
		t.Errorf("live session evicted while ended ones were held: %v", err)
	}
	// Both ended sessions were in the sample, so both went.
	if got, want := m.Len(), 2; got != want {
		t.Errorf("Len() = %d; want %d", got, want)
	}
	checkIndex(t, m)
}

func TestMemoryBoundConcurrent(t *testing.T) {
	const (
		limit   = 200
		workers = 8
		each    = 250
	)
	clock := testkit.NewClock(time.Now())
	m := newMemory(t, clock, limit)
	now := clock.Now()

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				s := record(t, fmt.Sprintf("user%d", w), now, now.Add(time.Hour+time.Duration(i)*time.Second))
				if err := m.Create(context.Background(), s); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				if n := m.Len(); n > limit {
					t.Errorf("Len() = %d; want <= %d", n, limit)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := m.Len(); got != limit {
		t.Errorf("Len() = %d; want %d", got, limit)
	}
	checkIndex(t, m)

	total := 0
	for w := range workers {
		n, err := m.DeleteUser(context.Background(), fmt.Sprintf("user%d", w))
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != limit {
		t.Errorf("DeleteUser over all users = %d; want %d", total, limit)
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len() after revoking everyone = %d; want 0", got)
	}
}

func TestMemoryCleanup(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	m := newMemory(t, clock, 0)
	now := clock.Now()

	idle := record(t, "idle", now, now.Add(time.Hour))
	idle.Inactivity = time.Minute
	ended := record(t, "ended", now, now.Add(time.Minute))
	live := record(t, "live", now, now.Add(time.Hour))
	for _, s := range []*session.Session{idle, ended, live} {
		mustCreate(t, m, s)
	}
	clock.Advance(2 * time.Minute)

	if got, want := m.CleanupNow(), 2; got != want {
		t.Errorf("CleanupNow() = %d; want %d", got, want)
	}
	if got, want := m.Len(), 1; got != want {
		t.Errorf("Len() = %d; want %d", got, want)
	}
	for _, user := range []string{"idle", "ended"} {
		if n := m.IndexedIDs(user); n != 0 {
			t.Errorf("index keeps %d ids of %s after cleanup", n, user)
		}
	}
	if _, err := m.Get(context.Background(), live.ID); err != nil {
		t.Errorf("Get(live): %v", err)
	}
	checkIndex(t, m)
}

// TestMemoryCleanupBackground runs the real ticker in a synctest bubble,
// where time moves only when every goroutine waits: no sleeping, no
// flakiness.
func TestMemoryCleanupBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := session.NewMemory(session.MemoryOptions{CleanupInterval: time.Minute})
		defer m.Close()
		now := time.Now()
		mustCreate(t, m, record(t, "short", now, now.Add(30*time.Second)))
		mustCreate(t, m, record(t, "long", now, now.Add(time.Hour)))

		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if got, want := m.Len(), 1; got != want {
			t.Errorf("Len() one tick after the end = %d; want %d", got, want)
		}
		if n := m.IndexedIDs("short"); n != 0 {
			t.Errorf("index keeps %d ids of the ended session", n)
		}
	})
}

func TestMemoryClose(t *testing.T) {
	m := session.NewMemory(session.MemoryOptions{})
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waits for the goroutine, so it has already stopped.
	select {
	case <-m.CleanupDone():
	default:
		t.Fatal("background cleanup still running after Close")
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
	ctx := context.Background()
	if err := m.Ping(ctx); err == nil {
		t.Error("Ping after Close = nil; want an error")
	}
	if _, err := m.Get(ctx, "x"); err == nil || errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get after Close = %v; want a store error, not ErrNotFound", err)
	}
}

func TestMemoryTouchDropsEnded(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	m := newMemory(t, clock, 0)
	now := clock.Now()
	s := record(t, "alice", now, now.Add(time.Minute))
	mustCreate(t, m, s)
	clock.Advance(2 * time.Minute)

	if err := m.Touch(context.Background(), s.ID, clock.Now()); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Touch = %v; want ErrNotFound", err)
	}
	if got := m.Len(); got != 0 {
		t.Errorf("Len() = %d; want 0: Touch already holds the lock and should drop it", got)
	}
	checkIndex(t, m)
}

func TestMemoryCreateReplacesEnded(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	m := newMemory(t, clock, 0)
	now := clock.Now()
	old := record(t, "old", now, now.Add(time.Minute))
	mustCreate(t, m, old)
	clock.Advance(2 * time.Minute)

	next := record(t, "new", clock.Now(), clock.Now().Add(time.Hour))
	next.ID = old.ID
	mustCreate(t, m, next)
	got, err := m.Get(context.Background(), old.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.User != "new" {
		t.Errorf("User = %q; want %q", got.User, "new")
	}
	if n := m.IndexedIDs("old"); n != 0 {
		t.Errorf("index keeps %d ids of the replaced session", n)
	}
	checkIndex(t, m)
}

func TestMemoryGetAllocs(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	m := newMemory(t, clock, 0)
	s := record(t, "alice", clock.Now(), clock.Now().Add(time.Hour))
	mustCreate(t, m, s)
	ctx := context.Background()

	allocs := testing.AllocsPerRun(100, func() {
		if _, err := m.Get(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Get allocates %v times; want 0", allocs)
	}
}

// BenchmarkMemoryGet reads random live sessions from many goroutines. With
// 100k sessions most reads miss the CPU caches, as they would in production;
// the 1k case shows the cost of the code itself.
func BenchmarkMemoryGet(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			benchmarkGet(b, n)
		})
	}
}

func benchmarkGet(b *testing.B, n int) {
	m := session.NewMemory(session.MemoryOptions{})
	b.Cleanup(func() { m.Close() })
	now := time.Now()
	ids := make([]string, n)
	for i := range ids {
		s := record(b, fmt.Sprintf("user%d", i%1000), now, now.Add(time.Hour))
		s.Inactivity = 5 * time.Minute
		s.Groups = []string{"dev", "admins"}
		mustCreate(b, m, s)
		ids[i] = s.ID
	}
	ctx := context.Background()

	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Get(ctx, ids[i%n]); err != nil {
				b.Error(err)
				return
			}
			i += 7919 // a prime stride, so goroutines do not walk in step
		}
	})
}

// TestMemoryUserWithManySessions crosses the per-user index from its small
// form to its set form and back: every id stays indexed, removals keep it
// exact, and DeleteUser ends them all.
func TestMemoryUserWithManySessions(t *testing.T) {
	clock := testkit.NewClock(time.Now())
	m := newMemory(t, clock, 1000)
	ctx := context.Background()
	now := clock.Now()
	var ids []string
	for range 300 {
		s := record(t, "busy", now, now.Add(time.Hour))
		mustCreate(t, m, s)
		ids = append(ids, s.ID)
	}
	other := record(t, "quiet", now, now.Add(time.Hour))
	mustCreate(t, m, other)
	checkIndex(t, m)
	if got := m.IndexedIDs("busy"); got != len(ids) {
		t.Fatalf("IndexedIDs = %d; want %d", got, len(ids))
	}
	for _, id := range ids[:250] {
		if err := m.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	checkIndex(t, m)
	if got := m.IndexedIDs("busy"); got != 50 {
		t.Fatalf("IndexedIDs after deletes = %d; want 50", got)
	}
	n, err := m.DeleteUser(ctx, "busy")
	if err != nil || n != 50 {
		t.Fatalf("DeleteUser = %d, %v; want 50", n, err)
	}
	checkIndex(t, m)
	if _, err := m.Get(ctx, other.ID); err != nil {
		t.Errorf("another user's session ended: %v", err)
	}
}
