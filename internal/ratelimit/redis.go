package ratelimit

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis is the fleet's limiter: every instance on one Redis shares each
// counter, kept under <prefix>rl:<key> with a TTL of at most the period
// (Redis forgets a counter by itself once it is back to its full
// allowance). A decision is one EVALSHA of redis_rate's GCRA script on one
// key, which works on Redis Cluster; the script reads the time from Redis,
// so instances with skewed clocks still agree.
type Redis struct {
	limiter *redis_rate.Limiter
	prefix  string
}

// NewRedis returns a limiter on client under prefix
// (session.redis.state_prefix).
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{limiter: redis_rate.NewLimiter(keyRewriter{client}), prefix: prefix}
}

// RedisKey is the Redis key of a counter key.
func (r *Redis) RedisKey(key string) string { return r.prefix + "rl:" + key }

// Allow decides one request of key under limit. A Redis error is
// returned; callers fail closed.
func (r *Redis) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	res, err := r.limiter.Allow(ctx, r.RedisKey(key), redis_rate.Limit{Rate: limit.Requests, Burst: limit.Requests, Period: limit.Period})
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	out := Result{Allowed: res.Allowed > 0, Remaining: res.Remaining, ResetAfter: max(res.ResetAfter, 0)}
	if !out.Allowed {
		out.RetryAfter = max(res.RetryAfter, 0)
	}
	return out, nil
}

// libraryPrefix is what redis_rate puts before every key it is given.
const libraryPrefix = "rate:"

// keyRewriter hands redis_rate's commands to the client with the
// library's fixed "rate:" prefix taken off again: counters live under
// the state prefix, where the least-privilege ACL's key pattern allows
// them and where deployments sharing one Redis keep apart.
type keyRewriter struct {
	redis.UniversalClient
}

func unprefixed(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, libraryPrefix)
	}
	return out
}

func (k keyRewriter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.Eval(ctx, script, unprefixed(keys), args...)
}

func (k keyRewriter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalSha(ctx, sha1, unprefixed(keys), args...)
}

func (k keyRewriter) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalRO(ctx, script, unprefixed(keys), args...)
}

func (k keyRewriter) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalShaRO(ctx, sha1, unprefixed(keys), args...)
}

func (k keyRewriter) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return k.UniversalClient.Del(ctx, unprefixed(keys)...)
}
