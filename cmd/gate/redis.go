package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"gate/internal/config"
	"gate/internal/redisconn"
	"gate/internal/session"
)

// openRedis builds the Redis session store and the Redis regulation
// counters on one client, and the Health that follows the client's
// commands and logs each outage. It does not connect: gate starts while
// Redis is down, /readyz and authz answer 503 until it answers, and the
// client reconnects by itself. stop ends the health watch and closes the
// client.
func openRedis(rc config.Redis, secret string, log zerolog.Logger) (store *session.Redis, counters *session.RedisCounters, health *redisconn.Health, stop func(), err error) {
	// go-redis logs each failed dial itself; those lines go to debug, and
	// Health reports the outage once.
	redis.SetLogger(redisLogger{log})

	client, plan, err := redisconn.New(rc)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	rlog := log.With().Str("redis", plan.String()).Logger()
	health = redisconn.NewHealth(func(e redisconn.Event) { logRedisEvent(rlog, e) })
	health.Observe(client)
	store, err = session.NewRedis(client, session.RedisOptions{
		Secret: secret, Prefix: rc.SessionPrefix, Name: plan.String(), PoolSize: plan.PoolSize, Timeout: plan.Timeout,
	})
	if err != nil {
		_ = client.Close()
		return nil, nil, nil, nil, fmt.Errorf("session.redis: %w", err)
	}
	counters = session.NewRedisCounters(client, rc.StatePrefix, plan.String())

	rlog.Info().Str("topology", plan.Topology.String()).Str("auth", plan.Auth()).Bool("tls", plan.TLS != nil).
		Str("session_prefix", rc.SessionPrefix).Str("state_prefix", rc.StatePrefix).Msg("session store: redis")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		health.Watch(ctx, store.Ping, redisconn.WatchOptions{})
	}()
	return store, counters, health, func() {
		cancel()
		<-done
		_ = store.Close()
	}, nil
}

// logRedisEvent writes one line per report: the operator sees an outage
// start (with the error), a summary every few seconds with the failed
// requests counted, and its end with its true duration, never a line per
// failed request.
func logRedisEvent(log zerolog.Logger, e redisconn.Event) {
	switch e.Kind {
	case redisconn.Reachable:
		log.Info().Msg("redis reachable")
	case redisconn.Unreachable:
		log.Error().Err(e.Err).Msg("redis unreachable: authz, login and /readyz answer 503 until it is back")
	case redisconn.StillUnreachable:
		log.Warn().Err(e.Err).Str("outage", roundDuration(e.Duration)).Int64("failed_requests", e.Failed).
			Msg("redis still unreachable")
	case redisconn.ReachableAgain:
		log.Info().Str("outage", roundDuration(e.Duration)).Int64("failed_requests", e.Failed).
			Msg("redis reachable again")
	}
}

func roundDuration(d time.Duration) string { return d.Round(time.Millisecond).String() }

// redisLogger sends go-redis's own messages to the debug level.
type redisLogger struct{ log zerolog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug().Str("component", "go-redis").Msgf(format, v...)
}
