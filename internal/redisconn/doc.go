// Package redisconn turns a session.redis configuration into a go-redis
// client: from where and as whom to connect, as package config resolves
// the section (config.Redis.Endpoint: the URL forms, the topology of one
// server, Sentinel or Cluster, the credentials and the TLS configuration),
// it builds the client for that topology and maps pool, timeout and retry
// settings. Resolving does no network I/O, so it is safe wherever the
// configuration is only being checked; go-redis connects lazily on first use.
//
// It also holds Watcher, which pings the store in the background and
// reports outages and recoveries, so an unreachable Redis is logged once
// per back-off step rather than once per request.
//
// It neither parses nor validates the configuration (package config does)
// and knows nothing of sessions or keys (package session does).
package redisconn
