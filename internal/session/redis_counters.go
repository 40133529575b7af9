package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// failScript counts a failure and starts the window on the first: INCR,
// then PEXPIRE only when the key has no TTL yet (PEXPIRE NX, written so
// that it also runs on Redis before 7.0). One key, one atomic step.
// KEYS: counter. ARGV: window in milliseconds.
var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// RedisCounters keeps login regulation counters in Redis (the
// regulation.Counters contract), so that every gate instance sharing the
// Redis sees the same failures and bans. Each method touches one key, so
// it works on Redis Cluster as on one server. The keys are
// <prefix>fail:<key> and <prefix>ban:<key>; regulation names keys with an
// HMAC, never a username or an address. Windows and bans run on Redis's
// clock (TTLs), so every key expires by itself.
type RedisCounters struct {
	client redis.UniversalClient
	prefix string
	name   string
}

// NewRedisCounters returns counters on client under prefix
// (session.redis.state_prefix). name describes the connection in errors,
// as RedisOptions.Name. The counters do not own the client.
func NewRedisCounters(client redis.UniversalClient, prefix, name string) *RedisCounters {
	if name == "" {
		name = "redis"
	}
	return &RedisCounters{client: client, prefix: prefix, name: name}
}

// fail wraps a Redis error as Redis.fail does: ErrUnavailable unless the
// caller canceled.
func (c *RedisCounters) fail(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("regulation: redis %s: %s: %w", op, c.name, err)
	}
	return fmt.Errorf("%w: regulation: redis %s: %s: %w", ErrUnavailable, op, c.name, err)
}

// Fail counts one failure of key; the count lives for window from the
// first failure.
func (c *RedisCounters) Fail(ctx context.Context, key string, window time.Duration) (int64, error) {
	n, err := failScript.Run(ctx, c.client, []string{c.prefix + "fail:" + key}, max(1, window.Milliseconds())).Int64()
	if err != nil {
		return 0, c.fail("fail", err)
	}
	return n, nil
}

// Ban bans key for d unless a ban is running (SET NX PX).
func (c *RedisCounters) Ban(ctx context.Context, key string, d time.Duration) error {
	err := c.client.SetArgs(ctx, c.prefix+"ban:"+key, 1, redis.SetArgs{Mode: "NX", TTL: max(time.Millisecond, d)}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return c.fail("ban", err)
	}
	return nil
}

// Banned returns the remaining ban of key, 0 if none (PTTL).
func (c *RedisCounters) Banned(ctx context.Context, key string) (time.Duration, error) {
	d, err := c.client.PTTL(ctx, c.prefix+"ban:"+key).Result()
	if err != nil {
		return 0, c.fail("banned", err)
	}
	// -2 (no key) and -1 (no TTL, which Ban never leaves) are no ban.
	return max(0, d), nil
}

// Reset forgets the failures of key; a running ban stays (DEL).
func (c *RedisCounters) Reset(ctx context.Context, key string) error {
	if err := c.client.Del(ctx, c.prefix+"fail:"+key).Err(); err != nil {
		return c.fail("reset", err)
	}
	return nil
}
