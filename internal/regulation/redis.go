package regulation

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Each script below is the Counters method of the same name on one hash,
// KEYS[1], with the fields f (F, failures in the window), p (P, checks in
// flight) and b (present while banned). The hash lives for the window from
// its first reservation and, once banned, for the ban: its TTL is the only
// clock, so every key expires by itself and a crashed instance's P dies
// with the window.

// reserveScript: ARGV max, window ms, ban ms. Returns {1, 0} when a slot
// was taken, {0, ms} while banned, {0, 0} while F + P >= max.
var reserveScript = redis.NewScript(`
local k = KEYS[1]
if redis.call('HEXISTS', k, 'b') == 1 then
  local ttl = redis.call('PTTL', k)
  if ttl < 0 then
    redis.call('PEXPIRE', k, ARGV[3])
    ttl = tonumber(ARGV[3])
  end
  return {0, ttl}
end
local v = redis.call('HMGET', k, 'f', 'p')
if (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0) >= tonumber(ARGV[1]) then
  return {0, 0}
end
redis.call('HINCRBY', k, 'p', 1)
if redis.call('PTTL', k) < 0 then
  redis.call('PEXPIRE', k, ARGV[2])
end
return {1, 0}
`)

// failScript: ARGV max, window ms, ban ms. A missing hash means the window
// ended during the check: the failure opens the next window.
var failScript = redis.NewScript(`
local k = KEYS[1]
if (tonumber(redis.call('HGET', k, 'p')) or 0) > 0 then
  redis.call('HINCRBY', k, 'p', -1)
end
if redis.call('HEXISTS', k, 'b') == 1 then
  return 0
end
local f = redis.call('HINCRBY', k, 'f', 1)
if f >= tonumber(ARGV[1]) then
  redis.call('HSET', k, 'b', 1, 'f', 0)
  redis.call('PEXPIRE', k, ARGV[3])
elseif redis.call('PTTL', k) < 0 then
  redis.call('PEXPIRE', k, ARGV[2])
end
return 0
`)

// releaseScript: ARGV reset (1 or 0). A hash left with nothing, outside a
// ban, is deleted.
var releaseScript = redis.NewScript(`
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then
  return 0
end
local p = tonumber(redis.call('HGET', k, 'p')) or 0
if p > 0 then
  p = redis.call('HINCRBY', k, 'p', -1)
end
if redis.call('HEXISTS', k, 'b') == 1 then
  return 0
end
if ARGV[1] == '1' then
  redis.call('HDEL', k, 'f')
end
if p == 0 and (tonumber(redis.call('HGET', k, 'f')) or 0) == 0 then
  redis.call('DEL', k)
end
return 0
`)

// RedisCounters keeps login regulation counters in Redis, so that every
// gate instance sharing the Redis sees the same failures, checks in flight
// and bans. Each method is one script on one key, so it is atomic and
// works on Redis Cluster as on one server. A key is
// <prefix>reg:<key>, where regulation names keys with an HMAC, never a
// username or an address.
type RedisCounters struct {
	client redis.UniversalClient
	prefix string
	name   string
}

var _ Counters = (*RedisCounters)(nil)

// NewRedisCounters returns counters on client under prefix
// (session.redis.state_prefix). name describes the connection in errors.
// The counters do not own the client.
func NewRedisCounters(client redis.UniversalClient, prefix, name string) *RedisCounters {
	if name == "" {
		name = "redis"
	}
	return &RedisCounters{client: client, prefix: prefix, name: name}
}

// Key returns the Redis key of a regulation key, for tests and
// diagnostics.
func (c *RedisCounters) Key(key string) string { return c.prefix + "reg:" + key }

func (c *RedisCounters) fail(op string, err error) error {
	return fmt.Errorf("redis %s: %s: %w", op, c.name, err)
}

// Reserve implements Counters.
func (c *RedisCounters) Reserve(ctx context.Context, key string, l Limits) (time.Duration, bool, error) {
	v, err := reserveScript.Run(ctx, c.client, []string{c.Key(key)}, l.Max, ms(l.Window), ms(l.Ban)).Int64Slice()
	if err != nil {
		return 0, false, c.fail("reserve", err)
	}
	if len(v) != 2 {
		return 0, false, c.fail("reserve", fmt.Errorf("unexpected reply %v", v))
	}
	return time.Duration(v[1]) * time.Millisecond, v[0] == 1, nil
}

// Fail implements Counters.
func (c *RedisCounters) Fail(ctx context.Context, key string, l Limits) error {
	if err := failScript.Run(ctx, c.client, []string{c.Key(key)}, l.Max, ms(l.Window), ms(l.Ban)).Err(); err != nil {
		return c.fail("fail", err)
	}
	return nil
}

// Release implements Counters.
func (c *RedisCounters) Release(ctx context.Context, key string, reset bool) error {
	flag := 0
	if reset {
		flag = 1
	}
	if err := releaseScript.Run(ctx, c.client, []string{c.Key(key)}, flag).Err(); err != nil {
		return c.fail("release", err)
	}
	return nil
}

// ms is d in whole milliseconds, at least 1: PEXPIRE 0 would delete.
func ms(d time.Duration) int64 { return max(1, d.Milliseconds()) }
