package redisconn

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Back-off bounds of WatchMaster between sentinels.
const (
	watchMinBackoff = 20 * time.Millisecond
	watchMaxBackoff = 2 * time.Second
)

// MasterWatch returns WatchMaster for a Sentinel plan, nil for others,
// whose master never moves.
func (p *Plan) MasterWatch() func(ctx context.Context, report func(watching bool)) {
	if p.Topology != Sentinel {
		return nil
	}
	return p.WatchMaster
}

// WatchMaster follows the sentinels' +switch-master announcements for the
// plan's master until ctx ends: report(true) once subscribed on a
// sentinel, report(false) when the subscription is lost (a switch may be
// missed meanwhile) and for every switch of the plan's master (followed at
// once by report(true): the subscription holds). It tries the sentinels
// in turn. Only for a Sentinel plan; for others it returns at once.
//
// The session cache uses it: a stream of invalidations from the old master
// says nothing of writes to the new one, so a switch must restart it.
func (p *Plan) WatchMaster(ctx context.Context, report func(watching bool)) {
	if p.Topology != Sentinel {
		return
	}
	delay := watchMinBackoff
	for i := 0; ctx.Err() == nil; i = (i + 1) % len(p.Addrs) {
		began := time.Now()
		p.watchOne(ctx, p.Addrs[i], report)
		report(false)
		if time.Since(began) > watchMaxBackoff {
			delay = watchMinBackoff
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, watchMaxBackoff)
	}
}

// watchOne follows one sentinel until its subscription fails.
func (p *Plan) watchOne(ctx context.Context, addr string, report func(bool)) {
	c := redis.NewSentinelClient(&redis.Options{
		Addr:         addr,
		Username:     p.SentinelUsername,
		Password:     p.SentinelPassword,
		TLSConfig:    p.TLS,
		Protocol:     protocol,
		DialTimeout:  p.Timeout,
		ReadTimeout:  p.Timeout,
		WriteTimeout: p.Timeout,
		MaxRetries:   -1,
		PoolSize:     1,
	})
	defer c.Close()
	ps := c.Subscribe(ctx, "+switch-master")
	defer ps.Close()
	// A receive waits on its read deadline, not on ctx: closing the
	// subscription ends it at once.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if _, err := ps.Receive(ctx); err != nil {
		return
	}
	report(true)
	pinged := false // a ping is out, unanswered
	for {
		msg, err := ps.ReceiveTimeout(ctx, p.watchPing())
		if err != nil {
			if pinged || !isTimeout(err) || ctx.Err() != nil || ps.Ping(ctx) != nil {
				return
			}
			pinged = true
			continue
		}
		pinged = false
		if m, ok := msg.(*redis.Message); ok && strings.HasPrefix(m.Payload, p.MasterName+" ") {
			report(false)
			report(true)
		}
	}
}

// watchPing is how long a watch waits for a message before it pings the
// sentinel, which also bounds how long a dead sentinel goes unnoticed.
func (p *Plan) watchPing() time.Duration {
	if p.Timeout > 0 {
		return min(p.Timeout, time.Second)
	}
	return time.Second
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
