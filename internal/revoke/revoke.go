package revoke

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Store is what revocation needs of a session store.
type Store interface {
	DeleteUser(ctx context.Context, user string) (int, error)
}

// Back-off between attempts while the store fails, and how long one attempt
// may take.
const (
	firstRetry = 100 * time.Millisecond
	maxRetry   = 30 * time.Second
	attemptFor = 5 * time.Second
)

// Revoker deletes the sessions of revoked users in the background. It is
// safe for concurrent use.
type Revoker struct {
	store Store
	log   zerolog.Logger

	mu sync.Mutex
	// pending maps each user whose sessions still need deleting to the
	// sequence number of its latest Revoke: a pass forgets a user only if
	// no Revoke came for it while its deletion ran.
	pending map[string]uint64
	seq     uint64
	busy    bool          // a pass is running
	idle    chan struct{} // closed and replaced when pending empties

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New starts a Revoker on store; Close stops it.
func New(store Store, log zerolog.Logger) *Revoker {
	r := &Revoker{
		store:   store,
		log:     log,
		pending: make(map[string]uint64),
		idle:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	close(r.idle)
	go r.run()
	return r
}

// Revoke queues the deletion of every session of names. It does not block.
func (r *Revoker) Revoke(names []string) {
	if len(names) == 0 {
		return
	}
	r.mu.Lock()
	if len(r.pending) == 0 && !r.busy {
		r.idle = make(chan struct{})
	}
	r.seq++
	for _, n := range names {
		r.pending[n] = r.seq
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Idle returns a channel closed once every queued revocation is done.
func (r *Revoker) Idle() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idle
}

// Close stops the Revoker; revocations still queued are dropped (the users
// file keeps refusing those users).
func (r *Revoker) Close() {
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
	})
}

func (r *Revoker) run() {
	defer close(r.done)
	wait := firstRetry
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
		}
		for !r.pass() {
			select {
			case <-r.stop:
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, maxRetry)
		}
		wait = firstRetry
	}
}

// pass tries every pending user once and reports whether none is left.
func (r *Revoker) pass() bool {
	r.mu.Lock()
	todo := make(map[string]uint64, len(r.pending))
	for n, seq := range r.pending {
		todo[n] = seq
	}
	r.busy = true
	r.mu.Unlock()

	for name, seq := range todo {
		ctx, cancel := context.WithTimeout(context.Background(), attemptFor)
		n, err := r.store.DeleteUser(ctx, name)
		cancel()
		if err != nil {
			r.log.Warn().Err(err).Str("user", name).Msg("revoked user: ending sessions failed; retrying")
			continue
		}
		r.log.Info().Str("user", name).Int("sessions", n).Msg("revoked user: sessions ended")
		r.mu.Lock()
		if r.pending[name] == seq {
			delete(r.pending, name)
		}
		r.mu.Unlock()
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.busy = false
	if len(r.pending) > 0 {
		return false
	}
	select {
	case <-r.idle:
	default:
		close(r.idle)
	}
	return true
}
