package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// RedisTopology is how gate reaches Redis.
type RedisTopology int

// Topologies.
const (
	// TopologySingle is one server (or one behind a proxy), over TCP or a
	// unix socket.
	TopologySingle RedisTopology = iota
	// TopologySentinel asks Redis Sentinel for the current master and
	// follows failovers.
	TopologySentinel
	// TopologyCluster spreads keys over the hash slots of a Redis Cluster.
	TopologyCluster
)

// String returns "single", "sentinel" or "cluster".
func (t RedisTopology) String() string {
	switch t {
	case TopologySentinel:
		return "sentinel"
	case TopologyCluster:
		return "cluster"
	default:
		return "single"
	}
}

// RedisURL is a parsed session.redis.url.
type RedisURL struct {
	// TLS is set by the rediss schemes.
	TLS      bool
	Topology RedisTopology
	// Socket is the unix socket path of a unix:// URL; Hosts is empty then.
	Socket string
	// Hosts are host:port, the default port filled in, IPv6 in brackets.
	Hosts []string
	// Master is the Sentinel master name (the path of a Sentinel URL).
	Master string

	// HasAuth is set when the URL has user-info: it then replaces
	// session.redis.username and password.
	HasAuth            bool
	Username, Password string

	// HasDB is set when the URL names a database, in its path or ?db=.
	HasDB bool
	DB    int

	// The sentinels' credentials, from ?sentinel_username= and
	// ?sentinel_password=; they replace high_availability's.
	SentinelUsername, SentinelPassword       string
	HasSentinelUsername, HasSentinelPassword bool
}

// errScheme lists the schemes ParseRedisURL reads.
var errScheme = errors.New("scheme must be redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster")

// ParseRedisURL reads the URL forms of session.redis.url:
//
//	redis://[user:pass@]host:6379/0        one server, database 0
//	rediss://...                            the same over TLS
//	unix://[user:pass@]/run/redis.sock?db=0
//	redis://s1:26379,s2:26379/mymaster      Sentinel: several hosts, a name
//	redis://n1:6379,n2:6379                 Cluster: several hosts, no path
//	redis+sentinel://[user:pass@]s1,s2/mymaster?db=0
//	redis+cluster://n1:6379,n2:6379
//
// and the rediss+ variants. Query parameters are db, sentinel_username and
// sentinel_password; any other is an error, since a typo must not silently
// drop a setting.
//
// It does not use url.Parse, which cannot read comma-separated host lists
// and quotes the whole URL (password included) in its errors; no error
// here quotes any part of the URL but a query parameter's name.
//
// User-info without a colon is a password, as redis-cli reads it: a user
// name without a password could not authenticate.
func ParseRedisURL(s string) (*RedisURL, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, errors.New("must be a URL such as redis://host:6379/0")
	}
	u := &RedisURL{}
	unix, err := u.setScheme(scheme)
	if err != nil {
		return nil, err
	}
	if strings.Contains(rest, "#") {
		return nil, errors.New("must not have a #fragment")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, hasPath := strings.Cut(rest, "/")
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		if err := u.setUserInfo(authority[:i]); err != nil {
			return nil, err
		}
		authority = authority[i+1:]
	}
	if err := u.setQuery(rawQuery); err != nil {
		return nil, err
	}
	if unix {
		return u, u.setSocket(authority, path, hasPath)
	}
	if authority == "" {
		return nil, errors.New("names no host")
	}
	hosts := strings.Split(authority, ",")
	if err := u.setPath(path, len(hosts)); err != nil {
		return nil, err
	}
	if err := u.checkQueryFits(); err != nil {
		return nil, err
	}
	return u, u.setHosts(hosts)
}

// setScheme reads the scheme: TLS and, for the + forms, the topology.
func (u *RedisURL) setScheme(scheme string) (unix bool, err error) {
	scheme = strings.ToLower(scheme)
	if scheme == "unix" {
		return true, nil
	}
	base, flavour, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return false, errScheme
	}
	u.TLS = base == "rediss"
	switch flavour {
	case "":
		u.Topology = TopologySingle
	case "sentinel":
		u.Topology = TopologySentinel
	case "cluster":
		u.Topology = TopologyCluster
	default:
		return false, errScheme
	}
	return false, nil
}

func (u *RedisURL) setUserInfo(info string) error {
	user, pass, hasColon := strings.Cut(info, ":")
	if !hasColon {
		user, pass = "", info
	}
	var err1, err2 error
	u.Username, err1 = url.PathUnescape(user)
	u.Password, err2 = url.PathUnescape(pass)
	if err1 != nil || err2 != nil {
		return errors.New("invalid user-info: percent-encode special characters in the user name and password")
	}
	u.HasAuth = true
	return nil
}

// setQuery reads the parameters gate knows; any other is an error.
func (u *RedisURL) setQuery(raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return errors.New("invalid query string")
	}
	for k, v := range q {
		if len(v) != 1 {
			return fmt.Errorf("query parameter %q given %d times", k, len(v))
		}
		switch k {
		case "db":
			db, err := parseDB(v[0], "db must be a database number of 0 or more")
			if err != nil {
				return err
			}
			u.DB, u.HasDB = db, true
		case "sentinel_username":
			u.SentinelUsername, u.HasSentinelUsername = v[0], true
		case "sentinel_password":
			u.SentinelPassword, u.HasSentinelPassword = v[0], true
		default:
			return fmt.Errorf("unknown query parameter %q: known are db, sentinel_username and sentinel_password", k)
		}
	}
	return nil
}

// parseDB parses a database number; notNumber is the error for anything
// but digits.
func parseDB(s, notNumber string) (int, error) {
	if !isDigits(s) {
		return 0, errors.New(notNumber)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errors.New("database number out of range")
	}
	return n, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// setSocket reads the path of a unix:// URL.
func (u *RedisURL) setSocket(authority, path string, hasPath bool) error {
	p, err := url.PathUnescape(path)
	if authority != "" || !hasPath || err != nil || p == "" {
		return errors.New("a unix URL names an absolute socket path: unix:///run/redis.sock")
	}
	u.Topology, u.Socket = TopologySingle, "/"+p
	return nil
}

// setPath reads the path, which says what several hosts are: a Sentinel
// master name makes them sentinels, no path makes them Cluster nodes. One
// host takes a database number.
func (u *RedisURL) setPath(path string, hosts int) error {
	if strings.Contains(path, "/") {
		return errors.New("path must be one segment: a database number or a Sentinel master name")
	}
	numeric := isDigits(path)
	switch u.Topology {
	case TopologySingle:
		switch {
		case hosts == 1 && numeric:
			if !u.HasDB {
				db, err := parseDB(path, "")
				if err != nil {
					return err
				}
				u.DB, u.HasDB = db, true
			}
		case hosts == 1 && path != "":
			return errors.New("path must be a database number; a Sentinel URL is redis+sentinel://host:26379/master")
		case hosts == 1:
		case path == "":
			u.Topology = TopologyCluster
		case numeric:
			return errors.New("several hosts take a Sentinel master name as path, or no path for a Cluster")
		default:
			u.Topology, u.Master = TopologySentinel, path
		}
	case TopologySentinel:
		if path == "" || numeric {
			return errors.New("a Sentinel URL ends in the master name: redis+sentinel://host:26379/mymaster")
		}
		u.Master = path
	case TopologyCluster:
		if path != "" {
			return errors.New("a Cluster URL takes no path: redis+cluster://n1:6379,n2:6379")
		}
	}
	return nil
}

// checkQueryFits refuses query parameters the topology has no use for.
func (u *RedisURL) checkQueryFits() error {
	if u.Topology == TopologyCluster && u.HasDB {
		return errors.New("a Cluster URL takes no db: Redis Cluster has only database 0")
	}
	if u.Topology != TopologySentinel && (u.HasSentinelUsername || u.HasSentinelPassword) {
		return errors.New("sentinel_username and sentinel_password belong to Sentinel URLs")
	}
	return nil
}

// setHosts reads the hosts, filling in the topology's default port.
func (u *RedisURL) setHosts(hosts []string) error {
	port := defaultRedisPort
	if u.Topology == TopologySentinel {
		port = defaultSentinelPort
	}
	for i, h := range hosts {
		addr, err := hostPort(h, port)
		if err != nil {
			return fmt.Errorf("host %d: %w", i+1, err)
		}
		u.Hosts = append(u.Hosts, addr)
	}
	return nil
}

// hostPort reads host, host:port, [ipv6] or [ipv6]:port and returns
// host:port with port filled in when absent. Errors do not quote the
// host: a misplaced '@' can put a password there.
func hostPort(s string, port int) (string, error) {
	host, p, hasPort := s, "", false
	if rest, ok := strings.CutPrefix(s, "["); ok {
		end := strings.Index(rest, "]")
		if end < 0 {
			return "", errors.New("unclosed [ in IPv6 address")
		}
		host = rest[:end]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", errors.New("invalid IPv6 address")
		}
		if tail := rest[end+1:]; tail != "" {
			if p, hasPort = strings.CutPrefix(tail, ":"); !hasPort {
				return "", errors.New("invalid port")
			}
		}
	} else {
		host, p, hasPort = strings.Cut(s, ":")
		if host == "" {
			return "", errors.New("empty host")
		}
		if !validHost(host) {
			return "", errors.New("invalid host name")
		}
	}
	if hasPort {
		n, err := parsePort(p, 1)
		if err != nil {
			return "", errors.New("port must be 1-65535")
		}
		port = n
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}
