package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"gate/internal/config"
	"gate/internal/credcache"
	"gate/internal/keys"
	"gate/internal/ratelimit"
	"gate/internal/redisconn"
	"gate/internal/regulation"
	"gate/internal/session"
)

// openRedis builds the Redis session store and the Redis regulation
// counters on one client, and starts the watcher that logs Redis's
// reachability. It does not connect: gate starts while Redis is down,
// /readyz and authz answer 503 until it answers, and the client reconnects
// by itself. stop ends the watcher and closes the client.
func openRedis(rc config.Redis, plan *redisconn.Plan, k keys.Set, log zerolog.Logger) (store *session.Redis, counters *regulation.RedisCounters, creds *credcache.Redis, limits *ratelimit.Redis, stop func(), err error) {
	// go-redis logs each failed dial itself; those lines go to debug, and
	// the watcher reports the outage once per back-off step.
	redis.SetLogger(redisLogger{log})

	// plan is rc as prepare resolved it.
	client := plan.NewClient()
	store, err = session.NewRedis(client, session.RedisOptions{RecordKey: k.RecordCipher, NameKey: k.KeyHash, Prefix: rc.SessionPrefix, Name: plan.String(), PoolSize: plan.PoolSize})
	if err != nil {
		_ = client.Close()
		return nil, nil, nil, nil, nil, fmt.Errorf("session.redis: %w", err)
	}
	counters = regulation.NewRedisCounters(client, rc.StatePrefix, plan.String())
	creds = credcache.NewRedis(client, rc.StatePrefix)
	limits = ratelimit.NewRedis(client, rc.StatePrefix)

	rlog := log.With().Str("redis", plan.String()).Logger()
	rlog.Info().Str("topology", plan.Topology.String()).Str("auth", plan.Auth()).Bool("tls", plan.TLS != nil).
		Str("session_prefix", rc.SessionPrefix).Str("state_prefix", rc.StatePrefix).Msg("session store: redis")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		redisconn.Watcher{Ping: store.Ping, Report: func(s redisconn.Status) { logRedisStatus(rlog, s) }}.Run(ctx)
	}()
	return store, counters, creds, limits, func() {
		cancel()
		<-done
		_ = store.Close()
	}, nil
}

func logRedisStatus(log zerolog.Logger, s redisconn.Status) {
	switch {
	case s.Up && s.Outage == 0:
		log.Info().Msg("redis reachable")
	case s.Up:
		log.Info().Str("outage", s.Outage.Round(time.Millisecond).String()).Msg("redis reachable again")
	case s.Failures == 1:
		log.Error().Err(s.Err).Str("retry_in", s.Retry.String()).
			Msg("redis unreachable: authz, login and /readyz answer 503 until it is back")
	default:
		log.Warn().Err(s.Err).Int("failures", s.Failures).Str("retry_in", s.Retry.String()).Msg("redis still unreachable")
	}
}

// redisLogger sends go-redis's own messages to the debug level.
type redisLogger struct{ log zerolog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug().Str("component", "go-redis").Msgf(format, v...)
}
