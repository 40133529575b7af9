// Package ratelimit enforces the rate_limit of access rules (SPEC section
// 9) with GCRA, the generic cell rate algorithm: a key may spend up to
// Requests at once, and earns one request back every Period/Requests. It
// has no window edges, so no burst of twice the limit across one. A
// sliding interval of one period after a long pause can hold at most
// 2×Requests−1 admissions (the full burst, then the refill); a burst of
// requests in a short time is held to Requests.
//
// Memory is one instance's limiter, a bounded table; Redis is the fleet's,
// one key per counter under <state_prefix>rl:<key> on the GCRA of
// github.com/go-redis/redis_rate, one script call per decision.
package ratelimit
