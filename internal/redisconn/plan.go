package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"gate/internal/config"
)

// Topology is how gate reaches Redis.
type Topology int

const (
	// Single is one server (or one behind a proxy), over TCP or a unix
	// socket.
	Single Topology = iota
	// Sentinel asks Redis Sentinel for the current master and follows
	// failovers.
	Sentinel
	// Cluster spreads keys over the hash slots of a Redis Cluster.
	Cluster
)

func (t Topology) String() string {
	switch t {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	default:
		return "single"
	}
}

// Plan is a resolved connection: everything a client needs, before any
// client exists. Plans from Resolve are complete; NewClient only copies
// them into go-redis options.
type Plan struct {
	Topology Topology
	// Network is "tcp", or "unix" for a socket (Single only).
	Network string
	// Addrs are the server (Single), the sentinels (Sentinel) or the seed
	// nodes (Cluster): host:port, or the socket path.
	Addrs []string
	// MasterName is the master the sentinels monitor.
	MasterName string
	// Username and Password authenticate to Redis (the master, with
	// Sentinel): AUTH username password with a username (ACL), AUTH
	// password without.
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername, SentinelPassword string
	DB                                 int
	// TLS is nil without TLS.
	TLS *tls.Config

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

// Resolve builds the plan for c, which config.Validate has accepted. It
// reads certificate files but opens no connection. Errors name the
// configuration key and never quote a password or the URL.
func Resolve(c config.Redis) (*Plan, error) {
	p := &Plan{
		Network:      "tcp",
		Username:     c.Username,
		Password:     c.Password,
		DB:           c.DatabaseIndex,
		PoolSize:     c.MaximumActiveConnections,
		MinIdleConns: c.MinimumIdleConnections,
		Timeout:      c.Timeout,
		MaxRetries:   c.MaxRetries,
	}
	if ha := c.HighAvailability; ha != nil {
		p.SentinelUsername, p.SentinelPassword = ha.SentinelUsername, ha.SentinelPassword
		p.RouteByLatency, p.RouteRandomly = ha.RouteByLatency, ha.RouteRandomly
	}
	if c.HighAvailability != nil && c.Cluster != nil {
		return nil, errors.New("session.redis.cluster: cannot be used together with session.redis.high_availability")
	}

	// first holds the nodes the URL or host/port name; the Sentinel and
	// Cluster sections add theirs after them.
	var first []string
	topology, socket := Single, ""
	switch {
	case c.URL != "":
		u, err := parseURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("session.redis.url: %w", err)
		}
		if u.hasAuth {
			p.Username, p.Password = u.username, u.password
		}
		if u.hasDB {
			p.DB = u.db
		}
		if u.hasSentinelUsername {
			p.SentinelUsername = u.sentinelUsername
		}
		if u.hasSentinelPassword {
			p.SentinelPassword = u.sentinelPassword
		}
		topology, socket, first = u.mode, u.socket, u.hosts
		p.MasterName = u.master
		switch {
		case u.mode == Sentinel && c.Cluster != nil:
			return nil, errors.New("session.redis.cluster: the url names a Sentinel deployment")
		case u.mode == Cluster && c.HighAvailability != nil:
			return nil, errors.New("session.redis.high_availability: the url names a Cluster")
		}
		if u.tls && c.TLS == nil {
			// rediss:// without a tls section: verify against the system
			// roots with the defaults.
			c.TLS = &config.RedisTLS{}
		}
	case strings.HasPrefix(c.Host, "/"):
		socket = c.Host
	case c.Host != "":
		first = []string{joinHostPort(c.Host, c.Port)}
	}

	if topology == Single {
		switch {
		case c.HighAvailability != nil:
			topology = Sentinel
		case c.Cluster != nil:
			topology = Cluster
		}
	}
	p.Topology = topology
	switch topology {
	case Sentinel:
		if p.MasterName == "" {
			if c.HighAvailability == nil || c.HighAvailability.SentinelName == "" {
				return nil, errors.New("session.redis.high_availability.sentinel_name: required")
			}
			p.MasterName = c.HighAvailability.SentinelName
		}
		p.Addrs = first
		if ha := c.HighAvailability; ha != nil {
			p.Addrs = appendNodes(p.Addrs, ha.Nodes)
		}
	case Cluster:
		p.Addrs = first
		if c.Cluster != nil {
			p.Addrs = appendNodes(p.Addrs, c.Cluster.Nodes)
		}
		if p.DB != 0 {
			return nil, errors.New("session.redis.database_index: must be 0 with Redis Cluster, which has only database 0")
		}
	default:
		if socket != "" {
			p.Network, p.Addrs = "unix", []string{socket}
		} else {
			p.Addrs = first
		}
	}
	if socket != "" && topology != Single {
		return nil, fmt.Errorf("session.redis.host: a unix socket reaches one server, not %s", topology)
	}
	if len(p.Addrs) == 0 {
		return nil, errors.New("session.redis: needs host, url, high_availability.nodes or cluster.nodes")
	}

	if c.TLS != nil {
		t, err := tlsConfig(c.TLS)
		if err != nil {
			return nil, err
		}
		p.TLS = t
	}
	return p, nil
}

// joinHostPort accepts the host forms of session.redis.host: a name, an
// IPv4 address or a bracketed IPv6 address.
func joinHostPort(host string, port int) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func appendNodes(addrs []string, nodes []config.RedisNode) []string {
	for _, n := range nodes {
		a := joinHostPort(n.Host, n.Port)
		dup := false
		for _, have := range addrs {
			dup = dup || have == a
		}
		if !dup {
			addrs = append(addrs, a)
		}
	}
	return addrs
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
