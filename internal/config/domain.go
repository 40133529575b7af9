package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ParseDomain parses session.domain, the domain the session cookie is set
// for, and returns it lower-cased. It accepts what browsers and net/http
// accept as a cookie's Domain attribute: a host name of letters, digits and
// '-' with at least one letter, or an IPv4 address. No leading or trailing
// dot, no port, no scheme.
func ParseDomain(s string) (string, error) {
	d := strings.ToLower(s)
	switch {
	case d == "":
		return "", errors.New("required: the domain the session cookie is set for")
	case strings.HasPrefix(d, "."):
		return "", fmt.Errorf("write the domain without a leading dot, got %q", s)
	case strings.Contains(d, "://") || strings.ContainsAny(d, "/:"):
		return "", fmt.Errorf("must be a bare domain such as example.com, not a URL or host:port, got %q", s)
	case strings.HasSuffix(d, "."):
		return "", fmt.Errorf("write the domain without a trailing dot, got %q", s)
	case strings.Contains(d, "_"):
		// Host names may carry '_' (package net allows it), but browsers
		// and net/http refuse it in a cookie's Domain: the cookie would
		// never be set.
		return "", fmt.Errorf("must not contain '_': browsers refuse it in a cookie domain, got %q", s)
	case !validHostname(d) || !isIPv4(d) && !strings.ContainsFunc(d, isLetter):
		return "", fmt.Errorf("invalid domain %q", s)
	}
	return d, nil
}

func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

func isLetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// ParseRuleDomain parses one entry of a rule's domain list: a host name
// ("app.example.com") or a wildcard ("*.example.com", which matches the
// subdomains of example.com but not example.com itself). host is
// lower-cased, without the "*." and without the one trailing dot a fully
// qualified name may end in, as request hosts are compared.
func ParseRuleDomain(s string) (host string, wildcard bool, err error) {
	d := strings.TrimSuffix(strings.ToLower(s), ".")
	switch {
	case d == "":
		return "", false, errors.New("must not be empty")
	case d == "*":
		return "", false, errors.New("a lone * is not a wildcard; leave domain out to match every host")
	case strings.ContainsAny(d, "{}"):
		return "", false, fmt.Errorf("placeholders such as {user} are not supported, got %q", s)
	}
	host, wildcard = strings.CutPrefix(d, "*.")
	if !validHostname(host) {
		return "", false, fmt.Errorf("must be a host name or a *. wildcard such as *.example.com, got %q", s)
	}
	return host, wildcard, nil
}

// WithinDomain reports whether host is domain or one of its subdomains:
// "example.com" and "app.example.com" are within "example.com";
// "badexample.com", "example.com.evil.org" and ".example.com" are not. host
// is compared ignoring ASCII case and one trailing dot, and carries no port;
// domain is as ParseDomain returns it. It does not allocate: the authz
// endpoints ask it on every request.
//
// It is the one answer to "does the session cookie reach this host", which
// decides where the portal may live, which hosts a session admits and
// where a login may redirect to (an open redirect otherwise).
func WithinDomain(host, domain string) bool {
	host = strings.TrimSuffix(host, ".")
	if domain == "" || len(host) < len(domain) || !strings.EqualFold(host[len(host)-len(domain):], domain) {
		return false
	}
	if len(host) == len(domain) {
		return true
	}
	// A subdomain has a non-empty label before the dot.
	return len(host) > len(domain)+1 && host[len(host)-len(domain)-1] == '.'
}

// DomainSet tells which of several cookie domains a host is within, as
// WithinDomain would over the list, at the cost of one map lookup per
// label of the host however many domains there are: the authz endpoints
// ask it on every request. The domains are as ParseDomain returns them
// and do not overlap (Validate refuses that).
type DomainSet struct {
	one   string         // the domain, when there is only one
	index map[string]int // each domain's position, when there are several
}

// NewDomainSet returns the set of domains, in their order.
func NewDomainSet(domains []string) DomainSet {
	if len(domains) <= 1 {
		var s DomainSet
		if len(domains) == 1 {
			s.one = domains[0]
		}
		return s
	}
	s := DomainSet{index: make(map[string]int, len(domains))}
	for i, d := range domains {
		s.index[strings.ToLower(d)] = i
	}
	return s
}

// Find returns the position of the domain host is within, or -1.
func (s DomainSet) Find(host string) int {
	if s.index == nil {
		if WithinDomain(host, s.one) {
			return 0
		}
		return -1
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			host = strings.ToLower(host)
			break
		}
	}
	if j, ok := s.index[host]; ok {
		return j
	}
	// The parents of host, each after a dot with a non-empty label
	// before it: WithinDomain's own rule.
	for i := 1; i < len(host); i++ {
		if host[i] == '.' {
			if j, ok := s.index[host[i+1:]]; ok {
				return j
			}
		}
	}
	return -1
}

// ParseSiteURL parses a URL meant for browsers (portal.url,
// portal.default_redirect_url): absolute, http or https, with a valid host
// and no user-info.
func ParseSiteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("must be an absolute http(s) URL, got %q", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("must be an http or https URL, got scheme %q", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("must not carry user-info")
	}
	if !validHost(u.Hostname()) {
		return nil, fmt.Errorf("invalid host %q", u.Hostname())
	}
	return u, nil
}
