package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no such session, or it has expired. Callers treat it as
	// "not authenticated", never as a failure.
	ErrNotFound = errors.New("session: not found")
	// ErrExists: Create was given an id that is already in use.
	ErrExists = errors.New("session: id already exists")
)

// Session is one logged-in browser. The record holds everything the authz
// decision needs, so the hot path never reads the users file.
type Session struct {
	// ID is the random identifier the cookie carries. Stores may hash it for
	// their keys; it is never logged.
	ID          string
	User        string
	DisplayName string
	Email       string
	Groups      []string
	// CreatedAt is the login time.
	CreatedAt time.Time
	// LastActivity is the last activity written to the store. It moves only
	// through Store.Touch, at most once per TouchInterval.
	LastActivity time.Time
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time
	// Inactivity ends the session this long after LastActivity; 0 means no
	// inactivity limit (remember-me sessions and a disabled limit).
	Inactivity time.Duration
	RememberMe bool
}

// Deadline is the effective end: the earlier of the absolute expiry and the
// inactivity deadline.
func (s *Session) Deadline() time.Time {
	if s.Inactivity > 0 {
		if idle := s.LastActivity.Add(s.Inactivity); idle.Before(s.ExpiresAt) {
			return idle
		}
	}
	return s.ExpiresAt
}

// Expired reports whether the session has ended at now.
func (s *Session) Expired(now time.Time) bool {
	return !now.Before(s.Deadline())
}

// maxTouchInterval caps how stale the written activity may get.
const maxTouchInterval = 10 * time.Second

// NeedsTouch reports whether the activity should be written back at now: when
// the last written activity is older than min(inactivity/4, 10s). Sessions
// without an inactivity limit never need it.
func (s *Session) NeedsTouch(now time.Time) bool {
	if s.Inactivity <= 0 {
		return false
	}
	every := min(s.Inactivity/4, maxTouchInterval)
	return now.Sub(s.LastActivity) > every
}

// Store keeps sessions. Implementations must be safe for concurrent use,
// must treat an expired session as absent (ErrNotFound), and must forget
// sessions by themselves once they end.
type Store interface {
	// Create saves a new session under s.ID; ErrExists if the id is taken.
	Create(ctx context.Context, s *Session) error
	// Get returns the live session with this id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Session, error)
	// Touch records activity at t; ErrNotFound if the session has ended.
	Touch(ctx context.Context, id string, t time.Time) error
	// Delete ends one session; deleting an absent one is not an error.
	Delete(ctx context.Context, id string) error
	// DeleteUser ends every session of user and returns how many ended.
	DeleteUser(ctx context.Context, user string) (int, error)
	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	// Close releases the store's resources and stops its background work.
	Close() error
}

// idBytes is 256 bits of randomness.
const idBytes = 32

// NewID returns a fresh random session id, URL-safe base64 of 256 bits.
func NewID() (string, error) {
	b := make([]byte, idBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
