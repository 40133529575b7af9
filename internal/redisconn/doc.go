// Package redisconn turns a session.redis configuration into a go-redis
// client: from where and as whom to connect, as package config resolves
// the section (config.Redis.Endpoint: the URL forms, the topology of one
// server, Sentinel or Cluster, the credentials and the TLS configuration),
// it builds the client for that topology and maps pool, timeout and retry
// settings. Resolving does no network I/O, so it is safe wherever the
// configuration is only being checked; go-redis connects lazily on first use.
//
// The clients it builds come back the moment Redis does: a dial gate keeps
// go-redis's pool from shutting itself off for a second after failed dials
// (see dialGate). Health follows whether Redis serves gate from the outcome
// of every command, and reports each outage once when it starts, in a
// summary every few seconds while it lasts, and once when it ends, so that
// failed requests need not log it each time.
//
// It neither parses nor validates the configuration (package config does)
// and knows nothing of sessions or keys (package session does).
package redisconn
