package ratelimit

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"gate/internal/keys"
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
	ByUser   = "u"
	ByClient = "c"
)

// Key names the counter of rule (its index in access_control.rules) for
// who, of kind ByUser or ByClient: HMAC-SHA256 under hmacKey (keys.Set's
// RateLimit), so that Redis key names carry no user name or address. The
// kind keeps a user named "10.0.0.1" apart from that client. A server
// names counters through a Namer.
func Key(hmacKey []byte, rule int, kind, who string) string {
	return NewNamer(hmacKey).Name(rule, kind, who)
}

// Namer is Key under one HMAC key, with its hash state reused across
// calls: it runs on every request of a limited rule.
type Namer struct {
	mac *keys.MAC
}

// NewNamer returns a Namer under hmacKey.
func NewNamer(hmacKey []byte) *Namer { return &Namer{mac: keys.NewMAC(hmacKey)} }

// Name is Key(hmacKey, rule, kind, who).
func (n *Namer) Name(rule int, kind, who string) string {
	return n.mac.Hex(kind, strconv.Itoa(rule), who)
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
