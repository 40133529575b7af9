package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// redisURL is the shape of session.redis.url, checked without connecting.
type redisURL struct {
	scheme string
	mode   string   // "single", "sentinel", "cluster" or "unix"
	hosts  []string // host:port as written; empty for unix
	master string   // Sentinel master name
	db     int
}

// parseRedisURL checks the shape of a Redis URL. It does not use url.Parse:
// its errors quote the whole URL, password included, and it does not take
// the comma-separated host lists of Sentinel and Cluster URLs. No message
// quotes any part of the URL.
func parseRedisURL(s string) (*redisURL, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return nil, errors.New("must be a URL such as redis://host:6379/0")
	}
	u := &redisURL{scheme: strings.ToLower(scheme)}
	base, flavour, _ := strings.Cut(u.scheme, "+")
	switch {
	case u.scheme == "unix":
		u.mode = "unix"
	case base != "redis" && base != "rediss":
		return nil, errors.New("scheme must be redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster")
	case flavour == "":
		u.mode = "single"
	case flavour == "sentinel" || flavour == "cluster":
		u.mode = flavour
	default:
		return nil, errors.New("scheme must be redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster")
	}
	if strings.Contains(rest, "#") {
		return nil, errors.New("must not have a #fragment")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errors.New("invalid query string")
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	if hasPath {
		path = "/" + path
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		if _, err := url.PathUnescape(authority[:i]); err != nil {
			return nil, errors.New("invalid user-info: percent-encode special characters in the user name and password")
		}
		authority = authority[i+1:]
	}

	if u.mode == "unix" {
		if authority != "" || len(path) < 2 {
			return nil, errors.New("unix URL must name an absolute socket path: unix:///run/redis.sock")
		}
		return u, u.queryDB(query, false)
	}

	if authority == "" {
		return nil, errors.New("names no host")
	}
	for i, h := range strings.Split(authority, ",") {
		if err := checkHostPort(h); err != nil {
			return nil, fmt.Errorf("host %d: %w", i+1, err)
		}
		u.hosts = append(u.hosts, h)
	}
	name := strings.TrimPrefix(path, "/")
	if strings.Contains(name, "/") {
		return nil, errors.New("path must be one segment: a database number or a Sentinel master name")
	}
	numeric := isInteger(name) && !strings.HasPrefix(name, "-")

	switch u.mode {
	case "single":
		switch {
		case len(u.hosts) == 1 && (name == "" || numeric):
			if numeric {
				u.db, _ = strconv.Atoi(name)
			}
		case len(u.hosts) == 1:
			return nil, errors.New("path must be a database number; a Sentinel URL is redis+sentinel://host:26379/master")
		case name == "":
			u.mode = "cluster"
		case numeric:
			return nil, errors.New("several hosts take a Sentinel master name as path, or no path for a Cluster")
		default:
			u.mode, u.master = "sentinel", name
		}
	case "sentinel":
		if name == "" || numeric {
			return nil, errors.New("a Sentinel URL must end in the master name: redis+sentinel://host:26379/mymaster")
		}
		u.master = name
	case "cluster":
		if name != "" {
			return nil, errors.New("a Cluster URL takes no path: redis+cluster://n1:6379,n2:6379")
		}
	}
	return u, u.queryDB(query, u.mode == "cluster")
}

// queryDB reads ?db=N, which every single-node and Sentinel form accepts.
// Redis Cluster has only database 0.
func (u *redisURL) queryDB(q url.Values, cluster bool) error {
	v, ok := q["db"]
	if !ok {
		return nil
	}
	if cluster {
		return errors.New("a Cluster URL takes no db: Redis Cluster has only database 0")
	}
	if len(v) != 1 || !isInteger(v[0]) || strings.HasPrefix(v[0], "-") {
		return errors.New("db must be a database number of 0 or more")
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return errors.New("db must be a database number of 0 or more")
	}
	u.db = n
	return nil
}

// checkHostPort checks host, host:port, [ipv6] or [ipv6]:port.
func checkHostPort(s string) error {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return errors.New("unclosed [ in IPv6 address")
		}
		host, port = s[1:end], s[end+1:]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return errors.New("invalid IPv6 address")
		}
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok {
				return errors.New("invalid port")
			}
			port = p
		} else {
			return nil
		}
	} else if h, p, ok := strings.Cut(s, ":"); ok {
		host, port = h, p
		if !validHost(host) {
			return errors.New("invalid host name")
		}
	} else if !validHost(host) {
		return errors.New("invalid host name")
	}
	if port == "" && strings.HasSuffix(s, ":") {
		return errors.New("empty port")
	}
	if port != "" {
		if _, err := parsePort(port, 1); err != nil {
			return errors.New("port must be 1-65535")
		}
	}
	return nil
}
