package http

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"gate/internal/access"
	"gate/internal/ratelimit"
)

// RateLimiter counts requests of rules with a rate_limit
// (ratelimit.Memory, ratelimit.Redis).
type RateLimiter interface {
	ratelimit.Limiter
}

// overLimit counts one allowed request against the rate limit of the rule
// that allowed it. Over the limit, or when the counters cannot be reached,
// it answers the client itself and reports true: a limited rule fails
// closed, or one Redis outage would lift every limit.
func (s *Server) overLimit(w http.ResponseWriter, r *http.Request, st *requestState, d *dialect, l *access.Limit, subj *access.Subject, client netip.Addr) (int, bool) {
	key := s.limitKey(l, subj, client)
	res, err := s.limiter.Allow(r.Context(), key, ratelimit.Limit{Requests: l.Requests, Period: l.Period})
	if err != nil {
		s.storeError(st, "rate_limit", err)
		s.decided("error")
		return writeText(w, http.StatusServiceUnavailable, "rate limit store unavailable"), true
	}
	if res.Allowed {
		return 0, false
	}
	s.decided("rate_limited")
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(l.Requests))
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", ceilSeconds(res.ResetAfter))
	// Never "0": a client told to retry at once would.
	h.Set("Retry-After", ceilSeconds(max(res.RetryAfter, time.Second)))
	return writeText(w, d.tooManyStatus, "rate limit exceeded, try again later"), true
}

// limitKey names the counter a request counts against: its user's for a
// by-user rule, its client's (IPv6 by /64) for a by-client rule and for
// anonymous requests.
func (s *Server) limitKey(l *access.Limit, subj *access.Subject, client netip.Addr) string {
	if subj != nil && !l.ByClient {
		return s.limitNames.Name(l.Rule, ratelimit.ByUser, subj.User)
	}
	return s.limitNames.Name(l.Rule, ratelimit.ByClient, ratelimit.ClientKey(client))
}

// ceilSeconds is d in whole seconds, rounded up, as the headers give it.
func ceilSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
