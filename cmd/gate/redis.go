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
	"gate/internal/oidc"
	"gate/internal/ratelimit"
	"gate/internal/redisconn"
	"gate/internal/regulation"
	"gate/internal/session"
)

// redisParts is everything gate keeps in Redis, on one client.
type redisParts struct {
	store    *session.Redis
	counters *regulation.RedisCounters
	creds    *credcache.Redis
	limits   *ratelimit.Redis
	states   *oidc.RedisStates
	// health follows the client's commands and logs each outage.
	health *redisconn.Health
	// stop ends the health watch and closes the client.
	stop func()
}

// openRedis builds the Redis session store, the regulation counters, the
// credential cache and the rate-limit counters on one client, and the
// Health that follows the client's commands and logs each outage. It does
// not connect: gate starts while Redis is down, /readyz and authz answer
// 503 until it answers, and the client reconnects by itself. plan is rc as
// prepare resolved it.
func openRedis(rc config.Redis, plan *redisconn.Plan, k keys.Set, log zerolog.Logger) (*redisParts, error) {
	// go-redis logs each failed dial itself; those lines go to debug, and
	// Health reports the outage once.
	redis.SetLogger(redisLogger{log})

	client := plan.NewClient()
	rlog := log.With().Str("redis", plan.String()).Logger()
	health := redisconn.NewHealth(func(e redisconn.Event) { logRedisEvent(rlog, e) })
	health.Observe(client)
	store, err := session.NewRedis(client, session.RedisOptions{
		RecordKey: k.RecordCipher, NameKey: k.KeyHash, Prefix: rc.SessionPrefix, Name: plan.String(),
		PoolSize: plan.PoolSize, Timeout: plan.Timeout,
	})
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("session.redis: %w", err)
	}

	rlog.Info().Str("topology", plan.Topology.String()).Str("auth", plan.Auth()).Bool("tls", plan.TLS != nil).
		Str("session_prefix", rc.SessionPrefix).Str("state_prefix", rc.StatePrefix).Msg("session store: redis")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		health.Watch(ctx, store.Ping, redisconn.WatchOptions{})
	}()
	return &redisParts{
		store:    store,
		counters: regulation.NewRedisCounters(client, rc.StatePrefix, plan.String()),
		creds:    credcache.NewRedis(client, rc.StatePrefix),
		limits:   ratelimit.NewRedis(client, rc.StatePrefix),
		states:   oidc.NewRedisStates(client, rc.StatePrefix),
		health:   health,
		stop: func() {
			cancel()
			<-done
			_ = store.Close()
		},
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
