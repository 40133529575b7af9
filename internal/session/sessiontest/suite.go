package sessiontest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gate/internal/session"
	"gate/internal/testkit"
)

// Run checks that stores built by newStore fulfil the session.Store
// contract, one subtest per behaviour. Each subtest gets a fresh store and a
// fresh Clock; the store must judge expiry by clock.Now, not by the wall
// clock. Run closes the store when the subtest ends, so newStore must not.
//
// The clock starts at the current wall time, so a store that also sets
// real TTLs (Redis) gets sensible ones.
func Run(t *testing.T, newStore func(t *testing.T, clock *testkit.Clock) session.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"create_get_round_trip", testRoundTrip},
		{"create_keeps_a_copy", testCreateKeepsCopy},
		{"get_unknown_id", testGetUnknown},
		{"create_existing_id", testCreateExisting},
		{"create_rejects_incomplete", testCreateRejectsIncomplete},
		{"create_already_ended", testCreateAlreadyEnded},
		{"absolute_expiry", testAbsoluteExpiry},
		{"inactivity_expiry", testInactivityExpiry},
		{"touch_extends_inactivity", testTouchExtends},
		{"remember_me_ignores_idle_time", testRememberMe},
		{"touch_ended_or_absent", testTouchEnded},
		{"touch_never_moves_backwards", testTouchBackwards},
		{"delete", testDelete},
		{"delete_user", testDeleteUser},
		{"delete_user_after_delete", testDeleteUserAfterDelete},
		{"delete_user_unknown", testDeleteUserUnknown},
		{"create_after_delete_user", testCreateAfterDeleteUser},
		{"provider_round_trip", testProviderRoundTrip},
		{"delete_provider_subject", testDeleteProviderSubject},
		{"delete_provider_sid", testDeleteProviderSID},
		{"delete_provider_after_delete", testDeleteProviderAfterDelete},
		{"provider_owner", testProviderOwner},
		{"concurrent_use", testConcurrent},
		{"new_id_unique_and_long", testNewID},
		{"cancelled_context", testCancelledContext},
		{"ping_and_close", testPingClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testkit.NewClock(time.Now())
			s := newStore(t, clock)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, &env{store: s, clock: clock})
		})
	}
}

// env is what one subtest works with.
type env struct {
	store session.Store
	clock *testkit.Clock
}

// newSession returns a complete record for a fresh id and a user name no
// other subtest uses, so stores sharing a backend do not see each other.
func (e *env) newSession(t testing.TB, user string) *session.Session {
	t.Helper()
	s, err := e.build(user)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// build is newSession for goroutines, which must not call t.Fatal.
func (e *env) build(user string) (*session.Session, error) {
	id, err := e.store.NewID(user)
	if err != nil {
		return nil, fmt.Errorf("NewID: %w", err)
	}
	now := e.clock.Now()
	return &session.Session{
		ID:           id,
		User:         user,
		DisplayName:  "Display " + user,
		Email:        user + "@example.com",
		Groups:       []string{"dev", "admins", "ops"},
		Stamp:        "stamp\x00\xff" + user,
		Domain:       "example.org",
		CreatedAt:    now,
		LastActivity: now,
		ExpiresAt:    now.Add(time.Hour),
		Inactivity:   5 * time.Minute,
	}, nil
}

func (e *env) create(t testing.TB, s *session.Session) {
	t.Helper()
	if err := e.store.Create(context.Background(), s); err != nil {
		t.Fatalf("Create(%s): %v", s.User, err)
	}
}

// mustGet fails the test unless the session is live.
func (e *env) mustGet(t testing.TB, id string) *session.Session {
	t.Helper()
	got, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get: %v; want the session", err)
	}
	return got
}

// mustBeGone fails the test unless Get answers ErrNotFound.
func (e *env) mustBeGone(t testing.TB, id string) {
	t.Helper()
	got, err := e.store.Get(context.Background(), id)
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get = %v, %v; want ErrNotFound", got, err)
	}
}

// newID returns an id from the store's NewID, for a session never created.
func (e *env) newID(t testing.TB) string {
	t.Helper()
	id, err := e.store.NewID(uniqueUser("nobody"))
	if err != nil {
		t.Fatalf("NewID: %v", err)
	}
	return id
}

// uniqueUser returns a user name unique to this run.
func uniqueUser(prefix string) string {
	return prefix + "-" + rand.Text()
}

// sameTime allows stores that keep times to the second.
func sameTime(a, b time.Time) bool {
	return a.Sub(b).Abs() < time.Second
}

func testRoundTrip(t *testing.T, e *env) {
	for _, rememberMe := range []bool{false, true} {
		t.Run(fmt.Sprintf("remember_me=%v", rememberMe), func(t *testing.T) {
			want := e.newSession(t, uniqueUser("alice"))
			want.Groups = []string{"zeta", "alpha", "mid"}
			want.CreatedAt = want.CreatedAt.Add(-time.Minute)
			if rememberMe {
				want.RememberMe = true
				want.Inactivity = 0
				want.ExpiresAt = want.CreatedAt.Add(30 * 24 * time.Hour)
			}
			e.create(t, want)

			got := e.mustGet(t, want.ID)
			if got.ID != want.ID {
				t.Errorf("ID = %q; want %q", got.ID, want.ID)
			}
			if got.User != want.User {
				t.Errorf("User = %q; want %q", got.User, want.User)
			}
			if got.DisplayName != want.DisplayName {
				t.Errorf("DisplayName = %q; want %q", got.DisplayName, want.DisplayName)
			}
			if got.Email != want.Email {
				t.Errorf("Email = %q; want %q", got.Email, want.Email)
			}
			if !slices.Equal(got.Groups, want.Groups) {
				t.Errorf("Groups = %q; want %q (order kept)", got.Groups, want.Groups)
			}
			if !sameTime(got.CreatedAt, want.CreatedAt) {
				t.Errorf("CreatedAt = %v; want %v", got.CreatedAt, want.CreatedAt)
			}
			if !sameTime(got.LastActivity, want.LastActivity) {
				t.Errorf("LastActivity = %v; want %v", got.LastActivity, want.LastActivity)
			}
			if !sameTime(got.ExpiresAt, want.ExpiresAt) {
				t.Errorf("ExpiresAt = %v; want %v", got.ExpiresAt, want.ExpiresAt)
			}
			if got.Inactivity != want.Inactivity {
				t.Errorf("Inactivity = %v; want %v", got.Inactivity, want.Inactivity)
			}
			if got.RememberMe != want.RememberMe {
				t.Errorf("RememberMe = %v; want %v", got.RememberMe, want.RememberMe)
			}
			if got.Stamp != want.Stamp {
				t.Errorf("Stamp = %q; want %q", got.Stamp, want.Stamp)
			}
			if got.Domain != want.Domain {
				t.Errorf("Domain = %q; want %q", got.Domain, want.Domain)
			}
		})
	}
}

// A caller reusing its record after Create must not change the stored one.
func testCreateKeepsCopy(t *testing.T, e *env) {
	s := e.newSession(t, uniqueUser("alice"))
	e.create(t, s)
	s.Groups[0] = "changed"
	s.User = "mallory"

	got := e.mustGet(t, s.ID)
	if got.Groups[0] != "dev" {
		t.Errorf("Groups[0] = %q after the caller changed its copy; want %q", got.Groups[0], "dev")
	}
	if got.User == "mallory" {
		t.Errorf("User = %q after the caller changed its copy", got.User)
	}
}

func testGetUnknown(t *testing.T, e *env) {
	e.mustBeGone(t, e.newID(t))
	e.mustBeGone(t, "")
}

func testCreateExisting(t *testing.T, e *env) {
	first := e.newSession(t, uniqueUser("alice"))
	e.create(t, first)

	// Another record for the same id (and so the same user: stores may
	// refuse an id issued for someone else before looking it up).
	second := e.newSession(t, first.User)
	second.ID = first.ID
	second.DisplayName = "Mallory"
	second.Groups = []string{"admins"}
	if err := e.store.Create(context.Background(), second); !errors.Is(err, session.ErrExists) {
		t.Fatalf("Create with a live id = %v; want ErrExists", err)
	}
	// The first session must survive intact: an id must never be taken over.
	got := e.mustGet(t, first.ID)
	if got.DisplayName != first.DisplayName || !slices.Equal(got.Groups, first.Groups) {
		t.Errorf("record = %q %q; want the first one, %q %q", got.DisplayName, got.Groups, first.DisplayName, first.Groups)
	}
}

func testCreateRejectsIncomplete(t *testing.T, e *env) {
	tests := []struct {
		name   string
		modify func(*session.Session)
	}{
		{"empty_id", func(s *session.Session) { s.ID = "" }},
		{"empty_user", func(s *session.Session) { s.User = "" }},
		{"zero_expiry", func(s *session.Session) { s.ExpiresAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.newSession(t, uniqueUser("alice"))
			tt.modify(s)
			err := e.store.Create(context.Background(), s)
			if err == nil || errors.Is(err, session.ErrExists) {
				t.Fatalf("Create = %v; want a validation error", err)
			}
		})
	}
}

func testCreateAlreadyEnded(t *testing.T, e *env) {
	s := e.newSession(t, uniqueUser("alice"))
	s.ExpiresAt = e.clock.Now().Add(-time.Second)
	if err := e.store.Create(context.Background(), s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	e.mustBeGone(t, s.ID)
}

func testAbsoluteExpiry(t *testing.T, e *env) {
	s := e.newSession(t, uniqueUser("alice"))
	s.ExpiresAt = e.clock.Now().Add(10 * time.Minute)
	s.Inactivity = 0
	e.create(t, s)

	e.clock.Advance(10*time.Minute - 2*time.Second)
	e.mustGet(t, s.ID)

	e.clock.Advance(3 * time.Second)
	e.mustBeGone(t, s.ID)
}

func testInactivityExpiry(t *testing.T, e *env) {
	s := e.newSession(t, uniqueUser("alice"))
	e.create(t, s)

	e.clock.Advance(s.Inactivity - 2*time.Second)
	e.mustGet(t, s.ID)

	e.clock.Advance(3 * time.Second)
	e.mustBeGone(t, s.ID)
}

func testTouchExtends(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.newSession(t, uniqueUser("alice"))
	e.create(t, s)

	e.clock.Advance(4 * time.Minute)
	touched := e.clock.Now()
	if err := e.store.Touch(ctx, s.ID, touched); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if got := e.mustGet(t, s.ID); !sameTime(got.LastActivity, touched) {
		t.Errorf("LastActivity = %v; want %v", got.LastActivity, touched)
	}

	// 8 minutes after login, 4 after the touch: alive.
	e.clock.Advance(4 * time.Minute)
	e.mustGet(t, s.ID)

	// The deadline counts from the touch, not from login.
	e.clock.Advance(time.Minute + 2*time.Second)
	e.mustBeGone(t, s.ID)
}

func testRememberMe(t *testing.T, e *env) {
	s := e.newSession(t, uniqueUser("alice"))
	s.RememberMe = true
	s.Inactivity = 0
	s.ExpiresAt = e.clock.Now().Add(30 * 24 * time.Hour)
	e.create(t, s)

	// Idle far longer than any inactivity limit, never touched.
	e.clock.Advance(29 * 24 * time.Hour)
	e.mustGet(t, s.ID)

	e.clock.Advance(24*time.Hour + 2*time.Second)
	e.mustBeGone(t, s.ID)
}

func testTouchEnded(t *testing.T, e *env) {
	ctx := context.Background()
	t.Run("absent", func(t *testing.T) {
		if err := e.store.Touch(ctx, e.newID(t), e.clock.Now()); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Touch = %v; want ErrNotFound", err)
		}
	})
	t.Run("idle", func(t *testing.T) {
		s := e.newSession(t, uniqueUser("alice"))
		e.create(t, s)
		e.clock.Advance(s.Inactivity + 2*time.Second)
		// Touching must not revive a session that has already ended.
		if err := e.store.Touch(ctx, s.ID, e.clock.Now()); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Touch = %v; want ErrNotFound", err)
		}
		e.mustBeGone(t, s.ID)
	})
	t.Run("deleted", func(t *testing.T) {
		s := e.newSession(t, uniqueUser("alice"))
		e.create(t, s)
		if err := e.store.Delete(ctx, s.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := e.store.Touch(ctx, s.ID, e.clock.Now()); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Touch = %v; want ErrNotFound", err)
		}
		e.mustBeGone(t, s.ID)
	})
}

func testTouchBackwards(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.newSession(t, uniqueUser("alice"))
	e.create(t, s)

	later := s.LastActivity.Add(2 * time.Minute)
	earlier := s.LastActivity.Add(time.Minute)
	e.clock.Set(later)
	if err := e.store.Touch(ctx, s.ID, later); err != nil {
		t.Fatalf("Touch(later): %v", err)
	}
	// A slow request finishing after a newer one must not rewind activity.
	if err := e.store.Touch(ctx, s.ID, earlier); err != nil {
		t.Fatalf("Touch(earlier): %v", err)
	}
	if got := e.mustGet(t, s.ID); !sameTime(got.LastActivity, later) {
		t.Errorf("LastActivity = %v; want %v", got.LastActivity, later)
	}
}

func testDelete(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.newSession(t, uniqueUser("alice"))
	other := e.newSession(t, s.User)
	e.create(t, s)
	e.create(t, other)

	if err := e.store.Delete(ctx, s.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	e.mustBeGone(t, s.ID)
	e.mustGet(t, other.ID)

	if err := e.store.Delete(ctx, s.ID); err != nil {
		t.Errorf("Delete again = %v; want nil", err)
	}
	if err := e.store.Delete(ctx, e.newID(t)); err != nil {
		t.Errorf("Delete(absent) = %v; want nil", err)
	}
}

func testDeleteUser(t *testing.T, e *env) {
	ctx := context.Background()
	alice, bob := uniqueUser("alice"), uniqueUser("bob")
	var alices []*session.Session
	for range 3 {
		s := e.newSession(t, alice)
		e.create(t, s)
		alices = append(alices, s)
	}
	bobs := e.newSession(t, bob)
	e.create(t, bobs)

	n, err := e.store.DeleteUser(ctx, alice)
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if got, want := n, 3; got != want {
		t.Errorf("DeleteUser = %d; want %d", got, want)
	}
	for _, s := range alices {
		e.mustBeGone(t, s.ID)
	}
	if got := e.mustGet(t, bobs.ID); got.User != bob {
		t.Errorf("User = %q; want %q", got.User, bob)
	}

	n, err = e.store.DeleteUser(ctx, alice)
	if err != nil {
		t.Fatalf("DeleteUser again: %v", err)
	}
	if n != 0 {
		t.Errorf("DeleteUser again = %d; want 0", n)
	}
}

// The per-user index must follow single deletions.
func testDeleteUserAfterDelete(t *testing.T, e *env) {
	ctx := context.Background()
	alice := uniqueUser("alice")
	var ids []string
	for range 3 {
		s := e.newSession(t, alice)
		e.create(t, s)
		ids = append(ids, s.ID)
	}
	if err := e.store.Delete(ctx, ids[1]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	n, err := e.store.DeleteUser(ctx, alice)
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if got, want := n, 2; got != want {
		t.Errorf("DeleteUser = %d; want %d", got, want)
	}
}

func testDeleteUserUnknown(t *testing.T, e *env) {
	n, err := e.store.DeleteUser(context.Background(), uniqueUser("nobody"))
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if n != 0 {
		t.Errorf("DeleteUser = %d; want 0", n)
	}
}

func testCreateAfterDeleteUser(t *testing.T, e *env) {
	ctx := context.Background()
	alice := uniqueUser("alice")
	e.create(t, e.newSession(t, alice))
	if _, err := e.store.DeleteUser(ctx, alice); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}

	s := e.newSession(t, alice)
	e.create(t, s)
	e.mustGet(t, s.ID)
	n, err := e.store.DeleteUser(ctx, alice)
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if n != 1 {
		t.Errorf("DeleteUser = %d; want 1", n)
	}
	e.mustBeGone(t, s.ID)
}

// testConcurrent is meant for -race: many goroutines share one store, each
// with its own user, all reading one shared session, while another user's
// sessions are revoked repeatedly.
func testConcurrent(t *testing.T, e *env) {
	const (
		workers = 16
		rounds  = 50
	)
	ctx := context.Background()
	shared := e.newSession(t, uniqueUser("shared"))
	e.create(t, shared)
	churn := uniqueUser("churn")

	var wg sync.WaitGroup
	users := make([]string, workers)
	kept := make([]int, workers)
	for w := range workers {
		users[w] = uniqueUser(fmt.Sprintf("worker%d", w))
		wg.Go(func() {
			for i := range rounds {
				s, err := e.build(users[w])
				if err != nil {
					t.Error(err)
					return
				}
				if err := e.store.Create(ctx, s); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				if _, err := e.store.Get(ctx, s.ID); err != nil {
					t.Errorf("Get(own): %v", err)
					return
				}
				if _, err := e.store.Get(ctx, shared.ID); err != nil {
					t.Errorf("Get(shared): %v", err)
					return
				}
				// Later than the last activity, so the record really changes.
				if err := e.store.Touch(ctx, s.ID, s.LastActivity.Add(time.Second)); err != nil {
					t.Errorf("Touch: %v", err)
					return
				}
				if i%2 == 0 {
					if err := e.store.Delete(ctx, s.ID); err != nil {
						t.Errorf("Delete: %v", err)
						return
					}
				} else {
					kept[w]++
				}
				c, err := e.build(churn)
				if err != nil {
					t.Error(err)
					return
				}
				if err := e.store.Create(ctx, c); err != nil {
					t.Errorf("Create(churn): %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range rounds {
			if _, err := e.store.DeleteUser(ctx, churn); err != nil {
				t.Errorf("DeleteUser(churn): %v", err)
				return
			}
		}
	})
	wg.Wait()
	if t.Failed() {
		return
	}

	for w, user := range users {
		n, err := e.store.DeleteUser(ctx, user)
		if err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if n != kept[w] {
			t.Errorf("DeleteUser(%s) = %d; want %d", user, n, kept[w])
		}
	}
	e.mustGet(t, shared.ID)
}

func testNewID(t *testing.T, e *env) {
	const n = 1000
	seen := make(map[string]bool, n)
	// The store's ids: unique, at least as long as 256 bits of base64, and
	// made of characters that need no escaping in cookies, URLs or keys.
	user := uniqueUser("alice")
	for range n {
		id, err := e.store.NewID(user)
		if err != nil {
			t.Fatalf("store NewID: %v", err)
		}
		if len(id) < 43 {
			t.Fatalf("len(store NewID) = %d; want >= 43", len(id))
		}
		if i := strings.IndexFunc(id, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_.", r))
		}); i >= 0 {
			t.Fatalf("store NewID = %q: character %q outside [A-Za-z0-9._-]", id, id[i])
		}
		if seen[id] {
			t.Fatalf("store NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func testCancelledContext(t *testing.T, e *env) {
	live := e.newSession(t, uniqueUser("alice"))
	e.create(t, live)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	fresh := e.newSession(t, uniqueUser("bob"))
	if err := e.store.Create(ctx, fresh); !errors.Is(err, context.Canceled) {
		t.Errorf("Create = %v; want context.Canceled", err)
	}
	if got, err := e.store.Get(ctx, live.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v, %v; want context.Canceled", got, err)
	}
	if err := e.store.Touch(ctx, live.ID, e.clock.Now()); !errors.Is(err, context.Canceled) {
		t.Errorf("Touch = %v; want context.Canceled", err)
	}
	if err := e.store.Delete(ctx, live.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete = %v; want context.Canceled", err)
	}
	if _, err := e.store.DeleteUser(ctx, live.User); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteUser = %v; want context.Canceled", err)
	}
	if err := e.store.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Ping = %v; want context.Canceled", err)
	}

	// Nothing the cancelled calls asked for took effect.
	e.mustBeGone(t, fresh.ID)
	e.mustGet(t, live.ID)
}

func testPingClose(t *testing.T, e *env) {
	ctx := context.Background()
	if err := e.store.Ping(ctx); err != nil {
		t.Fatalf("Ping = %v; want nil", err)
	}
	if err := e.store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.store.Close(); err != nil {
		t.Errorf("Close again = %v; want nil", err)
	}
	// A closed store must not look ready.
	if err := e.store.Ping(ctx); err == nil {
		t.Error("Ping after Close = nil; want an error")
	}
}
