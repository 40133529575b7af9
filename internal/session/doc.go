// Package session owns the session record, id generation, the Store contract
// and its implementations. It knows nothing of HTTP or cookies: callers hand
// it opaque ids.
package session
