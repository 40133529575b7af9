// Package regulation slows down password guessing: after max_retries failed
// logins within find_time for one username, or from one client, further
// attempts are refused for ban_time.
//
// It owns the policy (what is counted, when a ban starts, how keys are
// named) and declares the small Counters contract it needs from a store,
// with an in-memory implementation. A Redis implementation lives with the
// Redis store, so that every gate instance sharing it sees the same bans.
//
// Keys never contain a username or an address: they are HMACs under a key
// derived from session.secret, so that reading the store reveals neither
// who tried to log in nor from where.
package regulation
