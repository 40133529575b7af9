package revoke_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/revoke"
)

// store records DeleteUser calls and fails while failing is set.
type store struct {
	mu      sync.Mutex
	failing bool
	deleted []string
	calls   int
}

func (s *store) DeleteUser(_ context.Context, user string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failing {
		return 0, errors.New("store down")
	}
	s.deleted = append(s.deleted, user)
	return 1, nil
}

func (s *store) snapshot() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.deleted)), s.calls
}

func waitIdle(t *testing.T, r *revoke.Revoker) {
	t.Helper()
	select {
	case <-r.Idle():
	case <-time.After(10 * time.Second):
		t.Fatal("revocations still pending after 10s")
	}
}

func TestRevokeDeletesEveryUser(t *testing.T) {
	s := &store{}
	r := revoke.New(s, zerolog.Nop())
	t.Cleanup(r.Close)
	r.Revoke([]string{"alice", "bob"})
	waitIdle(t, r)
	if got, _ := s.snapshot(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("deleted = %q; want alice and bob", got)
	}
}

// While the store fails, revocations stay queued and are retried; they are
// done once it answers again.
func TestRevokeRetriesUntilTheStoreAnswers(t *testing.T) {
	s := &store{failing: true}
	r := revoke.New(s, zerolog.Nop())
	t.Cleanup(r.Close)
	r.Revoke([]string{"alice"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, calls := s.snapshot(); calls >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no retry within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-r.Idle():
		t.Fatal("idle while the store fails")
	default:
	}
	s.mu.Lock()
	s.failing = false
	s.mu.Unlock()
	waitIdle(t, r)
	if got, _ := s.snapshot(); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("deleted = %q; want alice", got)
	}
}

func TestIdleWithNothingQueued(t *testing.T) {
	r := revoke.New(&store{}, zerolog.Nop())
	t.Cleanup(r.Close)
	waitIdle(t, r)
	r.Revoke(nil)
	waitIdle(t, r)
}
