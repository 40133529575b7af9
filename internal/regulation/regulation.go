package regulation

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"gate/internal/config"
)

// Limits is the policy a store applies to one key.
type Limits struct {
	// Max is max_retries: the failures within Window that start a ban,
	// and the bound on failures plus checks in flight.
	Max int64
	// Window is find_time. It runs from the first reservation of a key
	// that holds nothing, and ends the failures counted and the checks
	// still recorded in flight (so that a crashed instance's reservations
	// cannot block a key for longer).
	Window time.Duration
	// Ban is ban_time.
	Ban time.Duration
}

// Counters is what regulation needs from a store. Every method touches
// one key in one atomic step, so that it maps onto one Lua script on
// Redis and works on Redis Cluster without cross-slot operations.
//
// Per key a store holds F, the wrong passwords counted in the current
// window; P, the password checks in flight; and whether a ban runs. The
// invariant: outside a ban, F + P <= Max. A check starts only once
// Reserve counted it in P, so however many attempts arrive at once, at
// most Max checks can be in flight or have failed within one window, and
// the Max-th failure starts a ban that refuses the rest.
type Counters interface {
	// Reserve takes one check slot of key: P++. It refuses (ok false)
	// while key is banned, wait being what is left of the ban, or while
	// F + P >= l.Max, wait being 0: checks in flight decide soon.
	Reserve(ctx context.Context, key string, l Limits) (wait time.Duration, ok bool, err error)
	// Fail ends a reserved check as a wrong password: P--, F++. The
	// failure that brings F to l.Max starts a ban of l.Ban and clears F:
	// the ban consumes the failures that caused it. During a ban nothing
	// is counted and the ban is not extended.
	Fail(ctx context.Context, key string, l Limits) error
	// Release ends a reserved check that was no failure, a right password
	// or a check that never ran: P--. With reset, F = 0 as well; a running
	// ban stays. A key left with nothing is deleted.
	Release(ctx context.Context, key string, reset bool) error
}

// busyWait is the Retry-After of an attempt refused because checks in
// flight fill the key's slots: they end within a password check's time.
const busyWait = time.Second

// settleTimeout bounds ending an attempt. Ending must not depend on the
// request's context: a client that hangs up mid-check would otherwise
// leave its reservation behind until the window ends.
const settleTimeout = 5 * time.Second

// Regulator applies the regulation policy. It is safe for concurrent use.
type Regulator struct {
	counters Counters
	limits   Limits
	hmacKey  []byte
}

// New returns a Regulator for cfg, validated by config, keeping its
// counters in counters and naming keys with an HMAC under key (keys.Set's
// Regulation). max_retries 0 disables regulation; counters may then be
// nil.
func New(cfg config.Regulation, counters Counters, key []byte) (*Regulator, error) {
	if cfg.MaxRetries > 0 && counters == nil {
		return nil, errors.New("regulation: no counter store")
	}
	if len(key) < 32 {
		return nil, errors.New("regulation: the key must be at least 32 bytes")
	}
	return &Regulator{
		counters: counters,
		limits:   Limits{Max: int64(cfg.MaxRetries), Window: cfg.FindTime, Ban: cfg.BanTime},
		hmacKey:  key,
	}, nil
}

// Enabled reports whether regulation is on (max_retries > 0).
func (r *Regulator) Enabled() bool { return r.limits.Max > 0 }

// Attempt is one login attempt admitted by Begin: its password check is
// counted as in flight under the username and the client address until
// exactly one of Fail, Succeed or Abandon ends it. It is not safe for
// concurrent use; the handler that began it ends it.
type Attempt struct {
	r *Regulator
	// keys are the reserved keys, the username's first unless anonymous;
	// empty when regulation is disabled.
	keys []string
	// anonymous is set for an attempt with no username (BeginClient): its
	// only key is the client's, which a success never resets.
	anonymous bool
	ended     bool
}

// Begin counts a login attempt for user from client before its password
// is checked. It returns the Attempt, which the caller must end, or, when
// the attempt is refused, a nil Attempt and how long the caller should
// wait (429 with Retry-After). A refusal on either key is enough, so that
// neither spraying one password over many usernames from one address nor
// guessing one user's password from many addresses gets past it. A store
// error is returned; callers fail closed.
//
// The username's key is reserved first and the client's second: they live
// in different Redis Cluster slots, so one script cannot take both. When
// the second refuses, the first is released.
func (r *Regulator) Begin(ctx context.Context, user string, client netip.Addr) (*Attempt, time.Duration, error) {
	return r.begin(ctx, &Attempt{r: r}, r.keys(user, client))
}

// BeginClient is Begin for a credential that names no user (an API
// token): it counts under the client address alone. Counting it under an
// empty username would put every such credential in one key, and one
// client guessing tokens would ban every token user.
func (r *Regulator) BeginClient(ctx context.Context, client netip.Addr) (*Attempt, time.Duration, error) {
	var ks []string
	if client.IsValid() {
		ks = []string{r.clientKey(client)}
	}
	return r.begin(ctx, &Attempt{r: r, anonymous: true}, ks)
}

// begin reserves keys for a, in order, giving back what it took when one
// refuses.
func (r *Regulator) begin(ctx context.Context, a *Attempt, keys []string) (*Attempt, time.Duration, error) {
	if !r.Enabled() {
		return a, 0, nil
	}
	for _, k := range keys {
		wait, ok, err := r.counters.Reserve(ctx, k, r.limits)
		if err == nil && ok {
			a.keys = append(a.keys, k)
			continue
		}
		if err != nil {
			err = fmt.Errorf("regulation: reserve: %w", err)
		}
		// Give back what was taken. A release that fails leaves a slot
		// taken until the window ends; the caller hears of it and fails
		// closed.
		if rerr := a.Abandon(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if err != nil {
			return nil, 0, err
		}
		return nil, max(wait, busyWait), nil
	}
	return a, 0, nil
}

// Fail ends the attempt as a wrong password: it counts as a failure under
// the username and the client address, and the failure that brings either
// count to max_retries within find_time starts a ban of ban_time.
func (a *Attempt) Fail(ctx context.Context) error {
	return a.end(ctx, "record failure", func(ctx context.Context, _ int, k string) error {
		return a.r.counters.Fail(ctx, k, a.r.limits)
	})
}

// Succeed ends the attempt as a right password and forgets the username's
// failures. The client's failures are kept: one valid account must not
// launder an address that is guessing others' passwords.
func (a *Attempt) Succeed(ctx context.Context) error {
	return a.end(ctx, "record success", func(ctx context.Context, i int, k string) error {
		return a.r.counters.Release(ctx, k, i == 0 && !a.anonymous)
	})
}

// Abandon ends the attempt without an outcome: the password was not
// checked (a store error, no free password worker, the client gone).
func (a *Attempt) Abandon(ctx context.Context) error {
	return a.end(ctx, "release", func(ctx context.Context, _ int, k string) error {
		return a.r.counters.Release(ctx, k, false)
	})
}

// end runs f on every reserved key once, under a context that outlives
// the request's. Later calls do nothing.
func (a *Attempt) end(ctx context.Context, what string, f func(ctx context.Context, i int, key string) error) error {
	if a == nil || a.ended {
		return nil
	}
	a.ended = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	var errs []error
	for i, k := range a.keys {
		if err := f(ctx, i, k); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("regulation: %s: %w", what, err)
	}
	return nil
}

// keys returns the username key and, for a valid client, the client key.
func (r *Regulator) keys(user string, client netip.Addr) []string {
	ks := []string{r.userKey(user)}
	if client.IsValid() {
		ks = append(ks, r.clientKey(client))
	}
	return ks
}

// userKey is "u:" and the HMAC of the lower-cased username: a ban must not
// be dodged by changing the case of the name.
func (r *Regulator) userKey(user string) string {
	return "u:" + r.mac(strings.ToLower(user))
}

// clientKey is "ip:" and the HMAC of the client address. An IPv6 client is
// counted by its /64, the block one subscriber usually holds: counting
// single addresses would let one attacker rotate through 2^64 of them.
func (r *Regulator) clientKey(client netip.Addr) string {
	client = client.Unmap().WithZone("")
	s := client.String()
	if client.Is6() {
		s = netip.PrefixFrom(client, 64).Masked().String()
	}
	return "ip:" + r.mac(s)
}

func (r *Regulator) mac(s string) string {
	m := hmac.New(sha256.New, r.hmacKey)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}
