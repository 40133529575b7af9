package session

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no such session, or it has ended. Callers treat it as
	// "not authenticated", never as a failure.
	ErrNotFound = errors.New("session: not found")
	// ErrExists: Create was given an id that a live session already holds.
	ErrExists = errors.New("session: id already exists")
	// ErrUnavailable: the store's backend (Redis) did not serve the call:
	// unreachable, too slow, or refusing. Callers fail closed (503); the
	// outage is reported where the backend's health is watched
	// (redisconn.Health), so callers need not log each such failure.
	ErrUnavailable = errors.New("session: store unavailable")
)

// Session is one logged-in browser. The record holds everything the authz
// decision needs, so the hot path never reads the users file.
//
// A *Session returned by a Store is read-only: stores may hand the same
// record to many callers at once.
type Session struct {
	// ID is the random identifier the cookie carries. Stores may hash it for
	// their keys; it is never logged.
	ID string
	// User is the login name; the per-user index (DeleteUser) is keyed by
	// it (by Owner, which is User but for External sessions).
	User        string
	DisplayName string
	Email       string
	// Groups keeps the order of the users file.
	Groups []string
	// CreatedAt is the login time.
	CreatedAt time.Time
	// LastActivity is the last activity written to the store. It moves only
	// forward, through Store.Touch, and only when NeedsTouch says so.
	LastActivity time.Time
	// ExpiresAt is the absolute end of the session, whatever the activity.
	ExpiresAt time.Time
	// Inactivity ends the session this long after LastActivity; 0 means no
	// inactivity limit (remember-me sessions and a disabled limit).
	Inactivity time.Duration
	RememberMe bool
	// Stamp is the user's credential stamp at login (users.User.Stamp): a
	// session whose stamp no longer matches its user's has been revoked by
	// a new password. Opaque to the stores.
	Stamp string
	// Domain is the cookie domain the session was issued for (an entry of
	// session.cookies): every entry's cookie is sealed with the same keys,
	// so a session is honoured only under the entry that issued it, and a
	// cookie copied to another domain's cookie of the same name is
	// refused. Opaque to the stores.
	Domain string

	// Provider is the id of the OpenID Connect provider the user signed in
	// through; empty for a password login. Subject is the provider's sub
	// claim and SID its sid claim (may be empty): DeleteProvider finds the
	// sessions of a back-channel logout by them. A provider session with an
	// empty Stamp carries its own identity (the provider's claims); one
	// with a Stamp was linked to a users-file entry and answers to it.
	Provider, Subject, SID string
}

// External reports whether the session's identity came from a provider
// alone, with no users-file entry behind it: the users file neither
// revokes nor updates it.
func (s *Session) External() bool { return s.Provider != "" && s.Stamp == "" }

// Owner is the name the per-user index files the session under (NewID,
// DeleteUser): its User, except for an External session, which is filed
// under ProviderOwner of its provider and subject. A provider's user is
// not the users-file user of the same name: neither's revocation nor
// "sign out everywhere" may reach the other's sessions.
func (s *Session) Owner() string {
	if s.External() {
		return ProviderOwner(s.Provider, s.Subject)
	}
	return s.User
}

// ProviderOwner is the Owner of an External session. The NUL bytes keep
// it apart from every users-file name and from other providers' subjects.
func ProviderOwner(provider, subject string) string {
	return "\x00oidc\x00" + provider + "\x00" + subject
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

// Expired reports whether the session has ended at now. The deadline itself
// is already past: a session idle for exactly Inactivity has ended.
func (s *Session) Expired(now time.Time) bool {
	return !now.Before(s.Deadline())
}

// maxTouchInterval caps how stale the written activity may get.
const maxTouchInterval = 10 * time.Second

// NeedsTouch reports whether the activity should be written back at now: when
// the last written activity is older than min(inactivity/4, 10s). Writing on
// every request would turn each authz check into a store write; sessions
// without an inactivity limit never need it.
func (s *Session) NeedsTouch(now time.Time) bool {
	if s.Inactivity <= 0 {
		return false
	}
	every := min(s.Inactivity/4, maxTouchInterval)
	return now.Sub(s.LastActivity) > every
}

// validate rejects records no store should keep: without an id or a user
// the record could never be found or revoked, and without an absolute
// expiry it would never end.
func (s *Session) validate() error {
	switch {
	case s == nil:
		return errors.New("session: nil session")
	case s.ID == "":
		return errors.New("session: empty id")
	case s.User == "":
		return errors.New("session: empty user")
	case s.ExpiresAt.IsZero():
		return errors.New("session: no expiry")
	}
	return nil
}

// clone copies s deeply enough that later changes to the caller's record
// (its Groups slice included) cannot reach a stored one.
func (s *Session) clone() *Session {
	c := *s
	c.Groups = slices.Clone(s.Groups)
	return &c
}

// idBytes is 256 bits of randomness.
const idBytes = 32

// newID returns a fresh random session id, URL-safe base64 (no padding) of
// 256 bits: 43 characters. Callers take ids from their store's NewID, which
// may add routing to it (the Redis store refuses ids without).
func newID() (string, error) {
	b := make([]byte, idBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session: new id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
