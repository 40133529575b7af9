package redisconn

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"gate/internal/config"
)

// Topology is how gate reaches Redis; package config reads it from the
// session.redis section.
type Topology = config.RedisTopology

// Topologies.
const (
	// Single is one server (or one behind a proxy), over TCP or a unix
	// socket.
	Single = config.TopologySingle
	// Sentinel asks Redis Sentinel for the current master and follows
	// failovers.
	Sentinel = config.TopologySentinel
	// Cluster spreads keys over the hash slots of a Redis Cluster.
	Cluster = config.TopologyCluster
)

// Plan is a resolved connection: everything a client needs, before any
// client exists. Plans from Resolve are complete; NewClient only copies
// them into go-redis options.
type Plan struct {
	// RedisEndpoint is where and as whom to connect, as config read it.
	config.RedisEndpoint

	// PoolSize is the pool's upper bound per node; 0 keeps go-redis's
	// default (10 per CPU).
	PoolSize     int
	MinIdleConns int
	// Timeout bounds each dial, read and write.
	Timeout time.Duration
	// MaxRetries is how often a command is retried after a network error;
	// 0 means never (go-redis's own 0 means 3).
	MaxRetries int
	// RouteByLatency and RouteRandomly send read-only commands to replicas
	// too (Sentinel).
	RouteByLatency, RouteRandomly bool
}

// Resolve builds the plan for c. Where and as whom to connect comes from
// config's one reading of the section (config.Redis.Endpoint), which
// Validate has run already, so a validated configuration always resolves;
// Resolve adds the pool, timeout, retry and routing settings. It reads
// certificate files but opens no connection. Errors name the
// configuration key and never quote a password or the URL.
func Resolve(c config.Redis) (*Plan, error) {
	e, err := c.Endpoint()
	if err != nil {
		return nil, err
	}
	p := &Plan{
		RedisEndpoint: *e,
		PoolSize:      c.MaximumActiveConnections,
		MinIdleConns:  c.MinimumIdleConnections,
		Timeout:       c.Timeout,
		MaxRetries:    c.MaxRetries,
	}
	if ha := c.HighAvailability; ha != nil {
		p.RouteByLatency, p.RouteRandomly = ha.RouteByLatency, ha.RouteRandomly
	}
	return p, nil
}

// String describes the plan for logs and error messages: topology,
// addresses, master, database and TLS. It never shows credentials.
func (p *Plan) String() string {
	var b strings.Builder
	switch p.Topology {
	case Sentinel:
		fmt.Fprintf(&b, "redis sentinel %q via %s db %d", p.MasterName, strings.Join(p.Addrs, ","), p.DB)
	case Cluster:
		fmt.Fprintf(&b, "redis cluster via %s", strings.Join(p.Addrs, ","))
	default:
		if p.Network == "unix" {
			fmt.Fprintf(&b, "redis unix:%s db %d", p.Addrs[0], p.DB)
		} else {
			fmt.Fprintf(&b, "redis %s db %d", p.Addrs[0], p.DB)
		}
	}
	if p.TLS != nil {
		b.WriteString(" over TLS")
	}
	return b.String()
}

// Auth names the authentication in use, for the startup log: "acl",
// "password" or "none".
func (p *Plan) Auth() string {
	switch {
	case p.Username != "":
		return "acl"
	case p.Password != "":
		return "password"
	}
	return "none"
}

// retries maps MaxRetries to go-redis, where 0 means the default of 3 and
// -1 means none.
func (p *Plan) retries() int {
	if p.MaxRetries <= 0 {
		return -1
	}
	return p.MaxRetries
}

// dialerRetries is 1: a refused dial fails the request at once (fail
// closed, fast) instead of being retried five times inside the pool;
// MaxRetries governs retries.
const dialerRetries = 1

// pipelinePool < 0 keeps go-redis from opening a pipeline pool of its own
// beside the main one: session.redis.maximum_active_connections must bound
// every connection gate opens, pipelines (the session store batches reads)
// included.
const pipelinePool = -1

// contextTimeouts makes go-redis hold a command to its context's deadline
// (the pool wait, the dial, the write and the read together), not only to
// each timeout on its own: the session store gives every call
// session.redis.timeout, so that a frozen Redis holds a decision no longer.
const contextTimeouts = true

// protocol is RESP2. gate uses nothing of RESP3, and on RESP3 go-redis
// inspects every reply for push notifications.
const protocol = 2

// Options returns the go-redis options of a Single plan.
func (p *Plan) Options() *redis.Options {
	return &redis.Options{
		Network:                  p.Network,
		Addr:                     p.Addrs[0],
		Username:                 p.Username,
		Password:                 p.Password,
		DB:                       p.DB,
		TLSConfig:                p.TLS,
		PoolSize:                 p.PoolSize,
		PipelinePoolSize:         pipelinePool,
		Protocol:                 protocol,
		MinIdleConns:             p.MinIdleConns,
		DialTimeout:              p.Timeout,
		ReadTimeout:              p.Timeout,
		WriteTimeout:             p.Timeout,
		MaxRetries:               p.retries(),
		DialerRetries:            dialerRetries,
		ContextTimeoutEnabled:    contextTimeouts,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// FailoverOptions returns the go-redis options of a Sentinel plan.
func (p *Plan) FailoverOptions() *redis.FailoverOptions {
	return &redis.FailoverOptions{
		MasterName:       p.MasterName,
		SentinelAddrs:    p.Addrs,
		SentinelUsername: p.SentinelUsername,
		SentinelPassword: p.SentinelPassword,
		RouteByLatency:   p.RouteByLatency,
		RouteRandomly:    p.RouteRandomly,
		Username:         p.Username,
		Password:         p.Password,
		DB:               p.DB,
		TLSConfig:        p.TLS,
		PoolSize:         p.PoolSize,
		PipelinePoolSize: pipelinePool,
		Protocol:         protocol,
		MinIdleConns:     p.MinIdleConns,
		DialTimeout:      p.Timeout,
		ReadTimeout:      p.Timeout,
		WriteTimeout:     p.Timeout,
		MaxRetries:       p.retries(),
		DialerRetries:    dialerRetries,

		ContextTimeoutEnabled: contextTimeouts,
	}
}

// ClusterOptions returns the go-redis options of a Cluster plan.
func (p *Plan) ClusterOptions() *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:                    p.Addrs,
		Username:                 p.Username,
		Password:                 p.Password,
		TLSConfig:                p.TLS,
		PoolSize:                 p.PoolSize,
		PipelinePoolSize:         pipelinePool,
		Protocol:                 protocol,
		MinIdleConns:             p.MinIdleConns,
		DialTimeout:              p.Timeout,
		ReadTimeout:              p.Timeout,
		WriteTimeout:             p.Timeout,
		MaxRetries:               p.retries(),
		DialerRetries:            dialerRetries,
		ContextTimeoutEnabled:    contextTimeouts,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// NewClient builds the client. It does not connect: go-redis dials on the
// first command (or in the background, to fill MinIdleConns).
func (p *Plan) NewClient() redis.UniversalClient {
	var c redis.UniversalClient
	switch p.Topology {
	case Sentinel:
		if p.RouteByLatency || p.RouteRandomly {
			// Only the cluster-shaped failover client routes reads to
			// replicas.
			c = redis.NewFailoverClusterClient(p.FailoverOptions())
		} else {
			c = redis.NewFailoverClient(p.FailoverOptions())
		}
	case Cluster:
		c = redis.NewClusterClient(p.ClusterOptions())
	default:
		c = redis.NewClient(p.Options())
	}
	gateDials(c)
	return c
}

// New resolves c and builds its client, without connecting.
func New(c config.Redis) (redis.UniversalClient, *Plan, error) {
	p, err := Resolve(c)
	if err != nil {
		return nil, nil, err
	}
	return p.NewClient(), p, nil
}

// StreamClient builds the client of one invalidation stream of the session
// cache, with onConnect as its OnConnect hook: for addr "" the plan's one
// master (following Sentinel failovers), else the Cluster master at addr.
// It serves one subscription, so its pool is one connection; it never
// reads from replicas, since the stream must follow the master the
// store's writes go to.
func (p *Plan) StreamClient(addr string, onConnect func(context.Context, *redis.Conn) error) redis.UniversalClient {
	switch {
	case p.Topology == Sentinel:
		o := p.FailoverOptions()
		o.RouteByLatency, o.RouteRandomly = false, false
		o.PoolSize, o.MinIdleConns, o.OnConnect = 1, 0, onConnect
		return redis.NewFailoverClient(o)
	case p.Topology == Cluster:
		o := p.Options()
		o.Addr, o.Network, o.DB = addr, "tcp", 0
		o.PoolSize, o.MinIdleConns, o.OnConnect = 1, 0, onConnect
		return redis.NewClient(o)
	default:
		o := p.Options()
		o.PoolSize, o.MinIdleConns, o.OnConnect = 1, 0, onConnect
		return redis.NewClient(o)
	}
}
