package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"
)

// Limit admits Requests per Period, Requests of them at once.
type Limit struct {
	Requests int
	Period   time.Duration
}

// interval is the time one request's allowance takes to come back; at
// least a nanosecond, so that a limit of more requests than nanoseconds in
// its period divides by no zero.
func (l Limit) interval() time.Duration { return max(l.Period/time.Duration(l.Requests), 1) }

// Result is one decision.
type Result struct {
	Allowed bool
	// Remaining is how many more requests would be admitted right now.
	Remaining int
	// RetryAfter is when the next request will be admitted; 0 when this
	// one was.
	RetryAfter time.Duration
	// ResetAfter is when the key is back to its full allowance.
	ResetAfter time.Duration
}

// Limiter decides whether one more request of key fits limit.
type Limiter interface {
	Allow(ctx context.Context, key string, limit Limit) (Result, error)
}

// Kinds of what a counter counts: a user, or a client address.
const (
	ByUser   = 'u'
	ByClient = 'c'
)

// Key names the counter of rule (its index in access_control.rules) for
// who, of kind ByUser or ByClient: HMAC-SHA256 under hmacKey (keys.Set's
// RateLimit), so that Redis key names carry no user name or address. The
// kind keeps a user named "10.0.0.1" apart from that client.
func Key(hmacKey []byte, rule int, kind byte, who string) string {
	m := hmac.New(sha256.New, hmacKey)
	var head [6]byte
	head[0], head[1], head[2], head[3] = byte(rule>>24), byte(rule>>16), byte(rule>>8), byte(rule)
	head[4], head[5] = kind, 0
	m.Write(head[:])
	m.Write([]byte(who))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0]))
}

// ClientKey is the address a client is counted by: IPv4 as it is, IPv6 by
// its /64, as one host (or one attacker) usually holds a whole /64 and
// could otherwise take a fresh address for every request.
func ClientKey(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is6() {
		p, err := addr.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return addr.String()
}
