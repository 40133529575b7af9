package redisconn

import (
	"context"
	"time"
)

// Observe records a command as the client hook does: begun at start,
// ended now with err.
func (h *Health) ObserveCommand(ctx context.Context, start time.Time, err error) {
	h.observe(ctx, start, err, 1)
}

// Probe marks ctx as Watch marks its pings.
func Probe(ctx context.Context) context.Context { return context.WithValue(ctx, probeKey, true) }

var Classify = classify

const (
	Answered = answered
	Failed   = failed
	Moot     = moot
)
