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
	"gate/internal/keys"
)

// Counters is what regulation needs from a store. Each method touches one
// key, so that it maps onto single-key Redis commands (and works on Redis
// Cluster without cross-slot operations).
type Counters interface {
	// Fail counts one failure under key and returns the count. The count
	// lives for window from the first failure (INCR, then PEXPIRE NX).
	Fail(ctx context.Context, key string, window time.Duration) (int64, error)
	// Ban bans key for d unless a ban is running; a running ban is not
	// extended (SET NX PX).
	Ban(ctx context.Context, key string, d time.Duration) error
	// Banned returns the remaining ban of key, 0 if none (PTTL).
	Banned(ctx context.Context, key string) (time.Duration, error)
	// Reset forgets the failures of key; a running ban stays (DEL).
	Reset(ctx context.Context, key string) error
}

// Regulator applies the regulation policy. It is safe for concurrent use.
type Regulator struct {
	counters   Counters
	maxRetries int64
	findTime   time.Duration
	banTime    time.Duration
	hmacKey    []byte
}

// New returns a Regulator for cfg, keeping its counters in counters and
// naming keys with an HMAC key derived from secret. max_retries 0 disables
// regulation; counters may then be nil.
func New(cfg config.Regulation, counters Counters, secret string) (*Regulator, error) {
	var errs []error
	if cfg.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("regulation.max_retries: must be 0 (disabled) or more, got %d", cfg.MaxRetries))
	}
	if cfg.MaxRetries > 0 {
		if cfg.FindTime <= 0 {
			errs = append(errs, fmt.Errorf("regulation.find_time: must be positive, got %s", cfg.FindTime))
		}
		if cfg.BanTime <= 0 {
			errs = append(errs, fmt.Errorf("regulation.ban_time: must be positive, got %s", cfg.BanTime))
		}
		if counters == nil {
			errs = append(errs, errors.New("regulation: no counter store"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	k, err := keys.Derive(secret, keys.RegulationKey, 32)
	if err != nil {
		return nil, fmt.Errorf("regulation: %w", err)
	}
	return &Regulator{
		counters:   counters,
		maxRetries: int64(cfg.MaxRetries),
		findTime:   cfg.FindTime,
		banTime:    cfg.BanTime,
		hmacKey:    k,
	}, nil
}

// Enabled reports whether regulation is on (max_retries > 0).
func (r *Regulator) Enabled() bool { return r.maxRetries > 0 }

// Check returns how long login attempts for user from client are still
// refused: the longer of the username's and the client's bans, 0 if
// neither is banned. A ban on either alone is enough to refuse, so that
// neither spraying one password over many usernames from one address nor
// guessing one user's password from many addresses gets past it. Call Check
// before verifying the password, and answer 429 when it is positive. A store
// error is returned; callers fail closed.
func (r *Regulator) Check(ctx context.Context, user string, client netip.Addr) (time.Duration, error) {
	if !r.Enabled() {
		return 0, nil
	}
	var longest time.Duration
	for _, k := range r.keys(user, client) {
		d, err := r.counters.Banned(ctx, k)
		if err != nil {
			return 0, fmt.Errorf("regulation: check: %w", err)
		}
		longest = max(longest, d)
	}
	return longest, nil
}

// Fail records a failed login for user from client. The failure that brings
// either count to max_retries within find_time starts a ban of ban_time.
// Attempts during a ban are refused by Check before the password is tried,
// so they never reach Fail and cannot extend the ban; even so, Ban does not
// extend a running ban.
func (r *Regulator) Fail(ctx context.Context, user string, client netip.Addr) error {
	if !r.Enabled() {
		return nil
	}
	var errs []error
	for _, k := range r.keys(user, client) {
		n, err := r.counters.Fail(ctx, k, r.findTime)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n >= r.maxRetries {
			if err := r.counters.Ban(ctx, k, r.banTime); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("regulation: record failure: %w", err)
	}
	return nil
}

// Succeed forgets the failures of user after a successful login. The
// client's failures are kept: one valid account must not launder an
// address that is guessing others' passwords.
func (r *Regulator) Succeed(ctx context.Context, user string) error {
	if !r.Enabled() {
		return nil
	}
	if err := r.counters.Reset(ctx, r.userKey(user)); err != nil {
		return fmt.Errorf("regulation: reset: %w", err)
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
