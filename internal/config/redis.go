package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// RedisEndpoint is where, and as whom, gate connects to Redis: the
// session.redis section with its url, host, port, node lists and
// credentials resolved into one topology.
type RedisEndpoint struct {
	Topology RedisTopology
	// Network is "tcp", or "unix" for a socket (TopologySingle only).
	Network string
	// Addrs are the server (Single), the sentinels (Sentinel) or the seed
	// nodes (Cluster): host:port with IPv6 in brackets, or the socket path.
	Addrs []string
	// MasterName is the master the sentinels monitor.
	MasterName string
	// Username and Password authenticate to Redis (to the master, with
	// Sentinel): AUTH username password with a username (ACL), AUTH
	// password without.
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername, SentinelPassword string
	DB                                 int
	// TLS is nil without TLS.
	TLS *tls.Config
}

// Endpoint resolves the section into where and how to connect. It is the
// one reading of the url, host, port, node and credential keys: Validate
// reports its problems and the Redis client is built from its result, so
// a configuration that passes Validate always resolves. It reads the
// certificate files but opens no connection. The error joins one Problem
// per mistake; none quotes a password, the URL or key material.
func (r *Redis) Endpoint() (*RedisEndpoint, error) {
	var ps problems
	e := r.endpoint(&ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return e, nil
}

const redisKey = "session.redis"

// validate checks the Redis section. No message quotes the password, the
// URL or key material.
func (r *Redis) validate(ps *problems) {
	r.endpoint(ps)
	if r.MaximumActiveConnections < 0 {
		ps.add(redisKey+".maximum_active_connections", "must be 0 (the client's default) or more, got %d", r.MaximumActiveConnections)
	}
	switch {
	case r.MinimumIdleConnections < 0:
		ps.add(redisKey+".minimum_idle_connections", "must be 0 or more, got %d", r.MinimumIdleConnections)
	case r.MaximumActiveConnections > 0 && r.MinimumIdleConnections > r.MaximumActiveConnections:
		ps.add(redisKey+".minimum_idle_connections", "%d is more than maximum_active_connections %d", r.MinimumIdleConnections, r.MaximumActiveConnections)
	}
	positive(ps, redisKey+".timeout", r.Timeout)
	if r.MaxRetries < 0 {
		ps.add(redisKey+".max_retries", "must be 0 (no retries) or more, got %d", r.MaxRetries)
	}
	checkPrefix(ps, redisKey+".session_prefix", r.SessionPrefix)
	checkPrefix(ps, redisKey+".state_prefix", r.StatePrefix)
	// A section built in code, not loaded, leaves the cache off and its
	// bound 0; a loaded one has the default bound unless given.
	if lc := r.LocalCache; lc.MaxEntries < 0 || lc.Enabled && lc.MaxEntries == 0 {
		ps.add(redisKey+".local_cache.max_entries", "must be 1 or more, got %d", lc.MaxEntries)
	}
	if r.SessionPrefix != "" && r.SessionPrefix == r.StatePrefix {
		ps.add(redisKey+".state_prefix", "must differ from session_prefix, or the two kinds of keys collide")
	}
}

// endpoint resolves the section, reporting every problem it meets; what
// it returns is complete only when it reported none.
func (r *Redis) endpoint(ps *problems) *RedisEndpoint {
	e := &RedisEndpoint{Network: "tcp", Username: r.Username, Password: r.Password, DB: r.DatabaseIndex}
	if ha := r.HighAvailability; ha != nil {
		e.SentinelUsername, e.SentinelPassword = ha.SentinelUsername, ha.SentinelPassword
	}
	r.checkKeys(ps)
	u, known := r.parseURL(ps)
	var first []string
	if u != nil {
		first = r.applyURL(e, u, ps)
	} else {
		first = r.applyHost(e, ps)
	}
	switch e.Topology {
	case TopologySentinel:
		r.sentinel(e, first, known, ps)
	case TopologyCluster:
		r.cluster(e, first, known, ps)
	default:
		if e.Network != "unix" {
			e.Addrs = first
		}
		if known && len(e.Addrs) == 0 {
			ps.add(redisKey, "needs host, url, high_availability.nodes or cluster.nodes")
		}
	}
	// The tls section's presence is the switch, whatever the scheme says;
	// rediss:// without one takes the defaults.
	if r.TLS != nil || u != nil && u.TLS {
		e.TLS = r.TLS.clientConfig(ps, redisKey+".tls")
	}
	return e
}

// checkKeys checks the keys that stand on their own.
func (r *Redis) checkKeys(ps *problems) {
	if r.Host != "" {
		if err := checkRedisHost(r.Host); err != nil {
			ps.add(redisKey+".host", "%v", err)
		}
	}
	checkPort(ps, redisKey+".port", r.Port)
	if r.DatabaseIndex < 0 {
		ps.add(redisKey+".database_index", "must be 0 or more, got %d", r.DatabaseIndex)
	}
	if r.HighAvailability != nil {
		checkNodes(ps, redisKey+".high_availability.nodes", r.HighAvailability.Nodes)
	}
	if r.Cluster != nil {
		checkNodes(ps, redisKey+".cluster.nodes", r.Cluster.Nodes)
		if r.HighAvailability != nil {
			ps.add(redisKey+".cluster", "cannot be used together with session.redis.high_availability; choose Sentinel or Cluster")
		}
	}
}

// parseURL reads session.redis.url: nil without one. known is false when
// the url cannot be read: the nodes are then unknown rather than missing.
func (r *Redis) parseURL(ps *problems) (u *RedisURL, known bool) {
	if r.URL == "" {
		return nil, true
	}
	if r.Host != "" {
		ps.add(redisKey+".url", "cannot be used together with session.redis.host; set one of them")
	}
	u, err := ParseRedisURL(r.URL)
	if err != nil {
		ps.add(redisKey+".url", "%v", err)
		return nil, false
	}
	return u, true
}

// applyHost applies host and port: the first node, or the unix socket.
func (r *Redis) applyHost(e *RedisEndpoint, ps *problems) (first []string) {
	e.Topology = r.sectionTopology()
	switch {
	case strings.HasPrefix(r.Host, "/"):
		r.socket(e, r.Host, redisKey+".host", ps)
	case r.Host != "":
		first = []string{joinHostPort(r.Host, r.Port)}
	}
	return first
}

// sectionTopology is the topology the sections choose.
func (r *Redis) sectionTopology() RedisTopology {
	switch {
	case r.HighAvailability != nil:
		return TopologySentinel
	case r.Cluster != nil:
		return TopologyCluster
	}
	return TopologySingle
}

// applyURL applies the url, which replaces the section's credentials and
// database where it names them. Its hosts are the first nodes; with a
// url of one host, the sections may still choose Sentinel or Cluster.
func (r *Redis) applyURL(e *RedisEndpoint, u *RedisURL, ps *problems) (first []string) {
	if u.HasAuth {
		e.Username, e.Password = u.Username, u.Password
	}
	if u.HasDB {
		e.DB = u.DB
	}
	if u.HasSentinelUsername {
		e.SentinelUsername = u.SentinelUsername
	}
	if u.HasSentinelPassword {
		e.SentinelPassword = u.SentinelPassword
	}
	e.MasterName = u.Master
	e.Topology = u.Topology
	switch {
	case u.Topology == TopologySingle:
		e.Topology = r.sectionTopology()
	case u.Topology == TopologySentinel && r.Cluster != nil:
		ps.add(redisKey+".cluster", "cannot be used with a url that names a Sentinel deployment")
	case u.Topology == TopologyCluster && r.HighAvailability != nil:
		ps.add(redisKey+".high_availability", "cannot be used with a url that names a Cluster")
	}
	if u.Socket != "" {
		r.socket(e, u.Socket, redisKey+".url", ps)
	}
	return u.Hosts
}

// socket sets a unix socket, which reaches one server only.
func (r *Redis) socket(e *RedisEndpoint, path, key string, ps *problems) {
	if e.Topology != TopologySingle {
		ps.add(key, "a unix socket reaches one server, not %s", e.Topology)
	}
	e.Network, e.Addrs = "unix", []string{path}
}

// sentinel completes a Sentinel endpoint: the master's name, and the
// sentinels after the first nodes.
func (r *Redis) sentinel(e *RedisEndpoint, first []string, known bool, ps *problems) {
	const key = redisKey + ".high_availability"
	if e.MasterName == "" && r.HighAvailability != nil {
		e.MasterName = r.HighAvailability.SentinelName
	}
	if e.MasterName == "" && known {
		ps.add(key+".sentinel_name", "required: the name of the monitored master")
	}
	if e.Network == "unix" {
		return
	}
	e.Addrs = first
	if r.HighAvailability != nil {
		e.Addrs = appendNodes(e.Addrs, r.HighAvailability.Nodes)
	}
	if known && len(e.Addrs) == 0 {
		ps.add(key+".nodes", "needs at least one sentinel node (session.redis.host counts as one)")
	}
}

// cluster completes a Cluster endpoint: the seed nodes after the first
// nodes, on database 0.
func (r *Redis) cluster(e *RedisEndpoint, first []string, known bool, ps *problems) {
	switch {
	case e.DB != 0 && e.DB != r.DatabaseIndex:
		ps.add(redisKey+".url", "names database %d, but Redis Cluster has only database 0", e.DB)
	case e.DB != 0:
		ps.add(redisKey+".database_index", "must be 0 with cluster: Redis Cluster has only database 0")
	}
	if e.Network == "unix" {
		return
	}
	e.Addrs = first
	if r.Cluster != nil {
		e.Addrs = appendNodes(e.Addrs, r.Cluster.Nodes)
	}
	if known && len(e.Addrs) == 0 {
		ps.add(redisKey+".cluster.nodes", "needs at least one node (session.redis.host counts as one)")
	}
}

// joinHostPort joins a host of session.redis.host or of a node (a name,
// an IPv4 address or a bracketed IPv6 address) and a port.
func joinHostPort(host string, port int) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// appendNodes adds the nodes not already in addrs.
func appendNodes(addrs []string, nodes []RedisNode) []string {
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

// checkRedisHost accepts a host name, an IPv4 address, a bracketed IPv6
// address or an absolute unix socket path.
func checkRedisHost(h string) error {
	switch {
	case strings.HasPrefix(h, "/"):
		return nil
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err != nil || !a.Is6() {
			return fmt.Errorf("invalid IPv6 address %q", h)
		}
		return nil
	case strings.Contains(h, ":"):
		if a, err := netip.ParseAddr(h); err == nil && a.Is6() {
			return fmt.Errorf("write an IPv6 address in brackets: [%s]", h)
		}
		return fmt.Errorf("must be a host without port (the port is its own key), got %q", h)
	case !validHost(h):
		return fmt.Errorf("invalid host %q: a host name, IP address, [IPv6] or /path/to/socket", h)
	}
	return nil
}

func checkPort(ps *problems, key string, p int) {
	if p < 1 || p > 65535 {
		ps.add(key, "must be 1-65535, got %d", p)
	}
}

func checkNodes(ps *problems, key string, nodes []RedisNode) {
	for i, n := range nodes {
		nk := indexKey(key, i)
		switch {
		case n.Host == "":
			ps.add(nk+".host", "required")
		case strings.HasPrefix(n.Host, "/"):
			ps.add(nk+".host", "a node is reached over TCP: a host name, IP address or [IPv6], not a socket path")
		default:
			if err := checkRedisHost(n.Host); err != nil {
				ps.add(nk+".host", "%v", err)
			}
		}
		checkPort(ps, nk+".port", n.Port)
	}
}

// checkPrefix keeps prefixes usable on Redis Cluster, where braces choose
// the hash slot: a brace in the prefix would put every key in one slot or
// break the store's own hash tags.
func checkPrefix(ps *problems, key, p string) {
	switch {
	case p == "":
		ps.add(key, "required: keys need a prefix to share a Redis with others")
	case strings.ContainsAny(p, "{}"):
		ps.add(key, "must not contain { or }: they select Redis Cluster hash slots")
	case strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		ps.add(key, "must not contain spaces or control characters")
	}
}
