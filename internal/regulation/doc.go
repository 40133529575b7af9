// Package regulation slows down password guessing: after max_retries failed
// logins within find_time for one username, or from one client, further
// attempts are refused for ban_time.
//
// An attempt is counted before its password is checked (Begin reserves a
// slot, and Fail, Succeed or Abandon ends it), so that the limit holds
// however many attempts arrive at once: at most max_retries wrong
// passwords per username and per client are ever checked in a window, on
// one instance or on many sharing Redis.
//
// It owns the policy (what is counted, when a ban starts, how keys are
// named), the small Counters contract it needs from a store, and both
// stores: in memory for one instance, and in Redis (one hash and one Lua
// script per key, so it works on Redis Cluster) for instances sharing one.
// It does not import the session package; the Redis client is shared with
// the session store by whoever wires them.
//
// Keys never contain a username or an address: they are HMACs under a key
// derived from session.secret, so that reading the store reveals neither
// who tried to log in nor from where.
package regulation
