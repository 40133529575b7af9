// Package redisconn turns a session.redis configuration into a go-redis
// client: it reads the URL forms, chooses the topology (one server, Sentinel
// or Cluster), builds the TLS configuration and maps pool, timeout and retry
// settings. Resolving does no network I/O, so it is safe wherever the
// configuration is only being checked; go-redis connects lazily on first use.
//
// It also holds Watcher, which pings the store in the background and
// reports outages and recoveries, so an unreachable Redis is logged once
// per back-off step rather than once per request.
//
// It does not validate the configuration (package config does) and knows
// nothing of sessions or keys (package session does).
package redisconn
