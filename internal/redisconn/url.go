package redisconn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Default ports of the URL forms that leave the port out.
const (
	defaultPort         = 6379
	defaultSentinelPort = 26379
)

// redisURL is a parsed session.redis.url.
type redisURL struct {
	tls  bool
	mode Topology
	// socket is the unix socket path; hosts is empty then.
	socket string
	// hosts are host:port, the default port filled in, IPv6 in brackets.
	hosts []string
	// master is the Sentinel master name (the path of a Sentinel URL).
	master string

	// hasAuth is set when the URL has user-info: it then replaces
	// session.redis.username and password.
	hasAuth            bool
	username, password string

	hasDB bool
	db    int

	sentinelUsername, sentinelPassword       string
	hasSentinelUsername, hasSentinelPassword bool
}

// parseURL reads the URL forms of SPEC 4.2:
//
//	redis://[user:pass@]host:6379/0        one server, database 0
//	rediss://...                            the same over TLS
//	unix://[user:pass@]/run/redis.sock?db=0
//	redis://s1:26379,s2:26379/mymaster      Sentinel: several hosts, a name
//	redis://n1:6379,n2:6379                 Cluster: several hosts, no path
//	redis+sentinel://[user:pass@]s1,s2/mymaster?db=0
//	redis+cluster://n1:6379,n2:6379
//
// and the rediss+ variants. It does not use url.Parse, which cannot read
// comma-separated host lists and quotes the whole URL (password included)
// in its errors; no error here quotes any part of the URL but a query
// parameter's name.
//
// User-info without a colon is a password, as redis-cli reads it: a user
// name without a password could not authenticate.
func parseURL(s string) (*redisURL, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, errors.New("must be a URL such as redis://host:6379/0")
	}
	u := &redisURL{}
	scheme = strings.ToLower(scheme)
	base, flavour, _ := strings.Cut(scheme, "+")
	switch {
	case scheme == "unix":
	case base == "redis" || base == "rediss":
		u.tls = base == "rediss"
		switch flavour {
		case "":
			u.mode = Single
		case "sentinel":
			u.mode = Sentinel
		case "cluster":
			u.mode = Cluster
		default:
			return nil, errors.New("scheme must be redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster")
		}
	default:
		return nil, errors.New("scheme must be redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster")
	}
	if strings.Contains(rest, "#") {
		return nil, errors.New("must not have a #fragment")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, hasPath := strings.Cut(rest, "/")
	if hasPath {
		path = "/" + path
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		if err := u.setUserInfo(authority[:i]); err != nil {
			return nil, err
		}
		authority = authority[i+1:]
	}
	if err := u.setQuery(rawQuery); err != nil {
		return nil, err
	}

	if scheme == "unix" {
		u.mode = Single
		p, err := url.PathUnescape(path)
		if authority != "" || err != nil || len(p) < 2 {
			return nil, errors.New("a unix URL names an absolute socket path: unix:///run/redis.sock")
		}
		u.socket = p
		return u, nil
	}

	if authority == "" {
		return nil, errors.New("names no host")
	}
	hosts := strings.Split(authority, ",")
	name := strings.TrimPrefix(path, "/")
	if strings.Contains(name, "/") {
		return nil, errors.New("path must be one segment: a database number or a Sentinel master name")
	}
	numeric := name != "" && isDigits(name)

	switch u.mode {
	case Single:
		switch {
		case len(hosts) == 1 && (name == "" || numeric):
			if numeric && !u.hasDB {
				db, err := strconv.Atoi(name)
				if err != nil {
					return nil, errors.New("database number out of range")
				}
				u.db, u.hasDB = db, true
			}
		case len(hosts) == 1:
			return nil, errors.New("path must be a database number; a Sentinel URL is redis+sentinel://host:26379/master")
		case name == "":
			u.mode = Cluster
		case numeric:
			return nil, errors.New("several hosts take a Sentinel master name as path, or no path for a Cluster")
		default:
			u.mode, u.master = Sentinel, name
		}
	case Sentinel:
		if name == "" || numeric {
			return nil, errors.New("a Sentinel URL ends in the master name: redis+sentinel://host:26379/mymaster")
		}
		u.master = name
	case Cluster:
		if name != "" {
			return nil, errors.New("a Cluster URL takes no path: redis+cluster://n1:6379,n2:6379")
		}
	}
	if u.mode == Cluster && u.hasDB {
		return nil, errors.New("a Cluster URL takes no db: Redis Cluster has only database 0")
	}
	if u.mode != Sentinel && (u.hasSentinelUsername || u.hasSentinelPassword) {
		return nil, errors.New("sentinel_username and sentinel_password belong to Sentinel URLs")
	}

	port := defaultPort
	if u.mode == Sentinel {
		port = defaultSentinelPort
	}
	for i, h := range hosts {
		addr, err := hostPort(h, port)
		if err != nil && len(hosts) > 1 {
			return nil, fmt.Errorf("host %d: %w", i+1, err)
		}
		if err != nil {
			return nil, err
		}
		u.hosts = append(u.hosts, addr)
	}
	return u, nil
}

func (u *redisURL) setUserInfo(info string) error {
	user, pass, hasColon := strings.Cut(info, ":")
	if !hasColon {
		user, pass = "", info
	}
	var err1, err2 error
	u.username, err1 = url.PathUnescape(user)
	u.password, err2 = url.PathUnescape(pass)
	if err1 != nil || err2 != nil {
		return errors.New("invalid user-info: percent-encode special characters in the user name and password")
	}
	u.hasAuth = true
	return nil
}

// setQuery reads the parameters gate knows. Any other is an error: a typo
// must not silently drop a setting.
func (u *redisURL) setQuery(raw string) error {
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
			if !isDigits(v[0]) {
				return errors.New("db must be a database number of 0 or more")
			}
			db, err := strconv.Atoi(v[0])
			if err != nil {
				return errors.New("database number out of range")
			}
			u.db, u.hasDB = db, true
		case "sentinel_username":
			u.sentinelUsername, u.hasSentinelUsername = v[0], true
		case "sentinel_password":
			u.sentinelPassword, u.hasSentinelPassword = v[0], true
		default:
			return fmt.Errorf("unknown query parameter %q: known are db, sentinel_username and sentinel_password", k)
		}
	}
	return nil
}

// hostPort reads host, host:port, [ipv6] or [ipv6]:port and returns
// host:port with port filled in when absent.
func hostPort(s string, port int) (string, error) {
	host, p := s, ""
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
			var ok bool
			if p, ok = strings.CutPrefix(tail, ":"); !ok {
				return "", errors.New("invalid port")
			}
		}
	} else if h, pp, ok := strings.Cut(s, ":"); ok {
		host, p = h, pp
	}
	if host == "" {
		return "", errors.New("empty host")
	}
	if strings.ContainsAny(host, "/@ ") {
		return "", errors.New("invalid host name")
	}
	if p != "" || strings.HasSuffix(s, ":") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", errors.New("port must be 1-65535")
		}
		port = n
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
