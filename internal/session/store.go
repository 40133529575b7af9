package session

import (
	"context"
	"time"
)

// Store keeps sessions. It is the one contract both the memory and the
// Redis store fulfil; sessiontest.Run checks it.
//
// Implementations must be safe for concurrent use, must judge expiry on read
// against their clock (an ended session is ErrNotFound even before it is
// removed), and must forget ended sessions by themselves. Every method
// returns ctx.Err() when ctx is already done.
type Store interface {
	// NewID returns a fresh id for a new session of user (the record's
	// Owner). Create may refuse an id that did not come from NewID for the
	// record's Owner: a store may
	// carry routing in the id (the Redis store keeps a user's sessions in
	// one Cluster hash slot that way).
	NewID(user string) (string, error)
	// Create saves a copy of s under s.ID; ErrExists if a live session holds
	// the id. It rejects a record without ID, User or ExpiresAt.
	Create(ctx context.Context, s *Session) error
	// Get returns the live session with this id, or ErrNotFound. The result
	// is read-only: it may be shared with other callers.
	Get(ctx context.Context, id string) (*Session, error)
	// Touch records activity at t; LastActivity never moves backwards, so an
	// earlier t is a no-op. ErrNotFound if the session has ended.
	Touch(ctx context.Context, id string, t time.Time) error
	// Delete ends one session; deleting an absent one is not an error.
	Delete(ctx context.Context, id string) error
	// DeleteUser ends every session whose Owner is user in one step and returns how many
	// it removed. Ended sessions the store had not yet forgotten may be
	// counted.
	DeleteUser(ctx context.Context, user string) (int, error)
	// DeleteProvider ends the sessions signed in through provider: those
	// of its sid when sid is given, else every session of its subject
	// (OpenID Connect Back-Channel Logout). It returns how many it removed.
	DeleteProvider(ctx context.Context, provider, subject, sid string) (int, error)
	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	// Close releases the store's resources and stops its background work.
	// It is idempotent; afterwards Ping fails.
	Close() error
}
