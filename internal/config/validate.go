package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// minSecretLength is the shortest session.secret accepted; every cookie and
// record key is derived from it.
const minSecretLength = 32

// Validate checks every setting and returns all problems at once, joined
// (see Problems), each naming the key to change. It reads the files the
// configuration names (users file, certificates) but never touches the
// network: whether Redis answers is a startup concern, not a configuration
// one.
//
// Validate also puts values that have one canonical spelling into it, so
// that their users compare plainly: rule methods are upper-cased, rule
// domains and session.domain lower-cased.
func (c *Config) Validate() error {
	var ps problems
	c.validateServer(&ps)
	c.validateLog(&ps)
	c.validatePortal(&ps)
	c.validateAuthenticationBackend(&ps)
	c.validateAccessControl(&ps)
	c.validateRegulation(&ps)
	c.validateSession(&ps)
	if r := c.Session.Redis; r != nil {
		r.validate(&ps)
	}
	return ps.err()
}

func (c *Config) validateServer(ps *problems) {
	s := c.Server
	if _, _, err := ParseAddress(s.Address); err != nil {
		ps.add("server.address", "%v", err)
	}
	positive(ps, "server.read_timeout", s.ReadTimeout)
	positive(ps, "server.write_timeout", s.WriteTimeout)
	positive(ps, "server.idle_timeout", s.IdleTimeout)
	for i, p := range s.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			ps.add(indexKey("server.trusted_proxies", i), "%v", err)
		}
	}
}

func (c *Config) validateLog(ps *problems) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		ps.add("log.format", "must be json or text, got %q", c.Log.Format)
	}
}

func (c *Config) validatePortal(ps *problems) {
	domain := strings.ToLower(c.Session.Domain)
	portal, err := siteURL(c.Portal.URL)
	switch {
	case c.Portal.URL == "":
		ps.add("portal.url", "required: the public URL of the login portal")
	case err != nil:
		ps.add("portal.url", "%v", err)
	case portal.RawQuery != "" || portal.Fragment != "":
		ps.add("portal.url", "must have no query or fragment: gate appends /?rd=")
	case domain != "" && validDomain(domain) == nil && !underDomain(portal.Hostname(), domain):
		ps.add("portal.url", "host %q is not session.domain %q or a subdomain of it: the session cookie would not reach the portal", portal.Hostname(), domain)
	}

	if c.Portal.DefaultRedirectURL == "" {
		return
	}
	u, err := siteURL(c.Portal.DefaultRedirectURL)
	switch {
	case err != nil:
		ps.add("portal.default_redirect_url", "%v", err)
	case domain != "" && validDomain(domain) == nil && !underDomain(u.Hostname(), domain):
		ps.add("portal.default_redirect_url", "host %q is not session.domain %q or a subdomain of it", u.Hostname(), domain)
	case portal != nil && portal.Scheme == "https" && u.Scheme != "https":
		ps.add("portal.default_redirect_url", "must be https, as portal.url is")
	}
}

// siteURL parses an absolute http(s) URL meant for browsers.
func siteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("must be an absolute http(s) URL, got %q", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("must be an http or https URL, got scheme %q", u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("must not carry user-info")
	}
	if !validHost(u.Hostname()) {
		return nil, fmt.Errorf("invalid host %q", u.Hostname())
	}
	return u, nil
}

// underDomain reports whether host is domain or one of its subdomains;
// "example.com.evil.com" and "badexample.com" are not under "example.com".
func underDomain(host, domain string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// validDomain checks a cookie domain.
func validDomain(d string) error {
	switch {
	case strings.HasPrefix(d, "."):
		return fmt.Errorf("write the domain without a leading dot, got %q", d)
	case strings.Contains(d, "://") || strings.ContainsAny(d, "/:"):
		return fmt.Errorf("must be a bare domain such as example.com, not a URL or host:port, got %q", d)
	case !validHostname(d):
		return fmt.Errorf("invalid domain %q", d)
	}
	return nil
}

func (c *Config) validateAuthenticationBackend(ps *problems) {
	const key = "authentication_backend.file.path"
	p := c.AuthenticationBackend.File.Path
	if p == "" {
		ps.add(key, "required: the users file")
		return
	}
	// Only existence and access: the users package owns the format.
	fi, err := os.Stat(p)
	if err != nil {
		ps.add(key, "cannot read users file %s: %s", p, pathErr(err))
		return
	}
	if fi.IsDir() {
		ps.add(key, "%s is a directory, not a users file", p)
		return
	}
	f, err := os.Open(p)
	if err != nil {
		ps.add(key, "cannot read users file %s: %s", p, pathErr(err))
		return
	}
	f.Close()
}

func (c *Config) validateAccessControl(ps *problems) {
	checkPolicy(ps, "access_control.default_policy", c.AccessControl.DefaultPolicy)
	for i := range c.AccessControl.Rules {
		validateRule(ps, indexKey("access_control.rules", i), &c.AccessControl.Rules[i])
	}
}

func checkPolicy(ps *problems, key, p string) {
	switch p {
	case "deny", "bypass", "one_factor":
	case "":
		ps.add(key, "required: deny, bypass or one_factor")
	case "two_factor":
		ps.add(key, "two_factor is not supported: gate has one factor; use one_factor")
	default:
		ps.add(key, "must be deny, bypass or one_factor, got %q", p)
	}
}

func validateRule(ps *problems, key string, r *Rule) {
	if len(r.Domain) == 0 && len(r.DomainRegex) == 0 {
		ps.add(key, "needs domain or domain_regex")
	}
	for j, d := range r.Domain {
		d = strings.ToLower(d)
		r.Domain[j] = d
		name, wildcard := strings.CutPrefix(d, "*.")
		if !validHostname(name) || (!wildcard && strings.Contains(d, "*")) {
			ps.add(indexKey(key+".domain", j), "must be a host name or a *. wildcard such as *.example.com, got %q", d)
		}
	}
	for j, re := range r.DomainRegex {
		if _, err := regexp.Compile(re); err != nil {
			ps.add(indexKey(key+".domain_regex", j), "invalid regex: %v", err)
		}
	}
	checkRegexes(ps, key+".resources", r.Resources)
	checkRegexes(ps, key+".paths", r.Paths)
	for j, m := range r.Methods {
		if !isToken(m) {
			ps.add(indexKey(key+".methods", j), "must be an HTTP method such as GET, got %q", m)
			continue
		}
		r.Methods[j] = strings.ToUpper(m)
	}
	for j, n := range r.Networks {
		if _, err := ParsePrefix(n); err != nil {
			ps.add(indexKey(key+".networks", j), "%v", err)
		}
	}
	for j, group := range r.Subject {
		gk := indexKey(key+".subject", j)
		if len(group) == 0 {
			ps.add(gk, "empty subject: write user:NAME or group:NAME")
		}
		for k, s := range group {
			kind, name, _ := strings.Cut(s, ":")
			if (kind != "user" && kind != "group") || strings.TrimSpace(name) == "" {
				ps.add(indexKey(gk, k), "must be user:NAME or group:NAME, got %q", s)
			}
		}
	}
	checkPolicy(ps, key+".policy", r.Policy)
}

// checkRegexes reports every list item of key that is not a valid regex.
func checkRegexes(ps *problems, key string, res []string) {
	for j, re := range res {
		if _, err := regexp.Compile(re); err != nil {
			ps.add(indexKey(key, j), "invalid regex: %v", err)
		}
	}
}

// isToken reports whether s is an RFC 9110 token, the syntax of a method
// and of a cookie name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func (c *Config) validateRegulation(ps *problems) {
	r := c.Regulation
	if r.MaxRetries < 0 {
		ps.add("regulation.max_retries", "must be 0 (regulation off) or more, got %d", r.MaxRetries)
	}
	positive(ps, "regulation.find_time", r.FindTime)
	positive(ps, "regulation.ban_time", r.BanTime)
}

func (c *Config) validateSession(ps *problems) {
	s := &c.Session
	switch {
	case s.Name == "":
		ps.add("session.name", "required: the cookie name")
	case !isToken(s.Name):
		ps.add("session.name", "must be a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~), got %q", s.Name)
	case strings.HasPrefix(s.Name, "__Host-"):
		// Browsers refuse a __Host- cookie that carries a Domain.
		ps.add("session.name", "must not start with __Host-: the cookie is set for session.domain")
	case strings.HasPrefix(s.Name, "__Secure-") && !strings.HasPrefix(c.Portal.URL, "https://"):
		ps.add("session.name", "a __Secure- cookie needs an https portal.url")
	}

	switch n := utf8.RuneCountInString(s.Secret); {
	case n == 0:
		ps.add("session.secret", "required: at least %d characters (or GATE_SESSION_SECRET_FILE)", minSecretLength)
	case n < minSecretLength:
		ps.add("session.secret", "too short: %d characters, need at least %d", n, minSecretLength)
	}

	s.Domain = strings.ToLower(s.Domain)
	if s.Domain == "" {
		ps.add("session.domain", "required: the domain the session cookie is set for")
	} else if err := validDomain(s.Domain); err != nil {
		ps.add("session.domain", "%v", err)
	}

	positive(ps, "session.expiration", s.Expiration)
	switch {
	case s.Inactivity < 0:
		ps.add("session.inactivity", "must be 0 (no limit) or positive, got %v", s.Inactivity)
	case s.Expiration > 0 && s.Inactivity > s.Expiration:
		ps.add("session.inactivity", "%v is longer than session.expiration %v", s.Inactivity, s.Expiration)
	}
	if s.RememberMe <= 0 && s.RememberMe != RememberMeDisabled {
		ps.add("session.remember_me", "must be positive, or -1 to disable remember-me, got %v", s.RememberMe)
	}

	switch s.SameSite {
	case "lax", "strict":
	case "none":
		// Browsers drop SameSite=None cookies that are not Secure, and the
		// cookie is Secure only behind an https portal.
		if !strings.HasPrefix(c.Portal.URL, "https://") {
			ps.add("session.same_site", "none needs an https portal.url: browsers drop SameSite=None cookies without Secure")
		}
	default:
		ps.add("session.same_site", "must be lax, strict or none, got %q", s.SameSite)
	}
}

func positive(ps *problems, key string, d time.Duration) {
	if d <= 0 {
		ps.add(key, "must be positive, got %v", d)
	}
}

// validate checks the Redis section. No message quotes the password, the
// URL or key material.
func (r *Redis) validate(ps *problems) {
	const key = "session.redis"
	if r.URL != "" {
		if _, err := parseRedisURL(r.URL); err != nil {
			ps.add(key+".url", "%v", err)
		}
		if r.Host != "" {
			ps.add(key+".url", "cannot be used together with session.redis.host; set one of them")
		}
	}
	if r.Host != "" {
		if err := checkRedisHost(r.Host); err != nil {
			ps.add(key+".host", "%v", err)
		}
	}
	checkPort(ps, key+".port", r.Port)
	if r.DatabaseIndex < 0 {
		ps.add(key+".database_index", "must be 0 or more, got %d", r.DatabaseIndex)
	}
	if r.MaximumActiveConnections < 0 {
		ps.add(key+".maximum_active_connections", "must be 0 (the client's default) or more, got %d", r.MaximumActiveConnections)
	}
	switch {
	case r.MinimumIdleConnections < 0:
		ps.add(key+".minimum_idle_connections", "must be 0 or more, got %d", r.MinimumIdleConnections)
	case r.MaximumActiveConnections > 0 && r.MinimumIdleConnections > r.MaximumActiveConnections:
		ps.add(key+".minimum_idle_connections", "%d is more than maximum_active_connections %d", r.MinimumIdleConnections, r.MaximumActiveConnections)
	}
	positive(ps, key+".timeout", r.Timeout)
	if r.MaxRetries < 0 {
		ps.add(key+".max_retries", "must be 0 (no retries) or more, got %d", r.MaxRetries)
	}
	checkPrefix(ps, key+".session_prefix", r.SessionPrefix)
	checkPrefix(ps, key+".state_prefix", r.StatePrefix)
	if r.SessionPrefix != "" && r.SessionPrefix == r.StatePrefix {
		ps.add(key+".state_prefix", "must differ from session_prefix, or the two kinds of keys collide")
	}

	hostNode := 0
	if r.Host != "" {
		hostNode = 1
	}
	if ha := r.HighAvailability; ha != nil {
		hk := key + ".high_availability"
		// A URL names the master and the sentinels itself; the section then
		// only adds credentials and routing.
		if r.URL == "" {
			if ha.SentinelName == "" {
				ps.add(hk+".sentinel_name", "required: the name of the monitored master")
			}
			if len(ha.Nodes)+hostNode == 0 {
				ps.add(hk+".nodes", "needs at least one sentinel node (session.redis.host counts as one)")
			}
		}
		checkNodes(ps, hk+".nodes", ha.Nodes)
	}
	if cl := r.Cluster; cl != nil {
		ck := key + ".cluster"
		if r.HighAvailability != nil {
			ps.add(ck, "cannot be used together with session.redis.high_availability; choose Sentinel or Cluster")
		}
		if r.URL == "" && len(cl.Nodes)+hostNode == 0 {
			ps.add(ck+".nodes", "needs at least one node (session.redis.host counts as one)")
		}
		if r.DatabaseIndex > 0 {
			ps.add(key+".database_index", "must be 0 with cluster: Redis Cluster has only database 0")
		}
		checkNodes(ps, ck+".nodes", cl.Nodes)
	}
	if r.URL == "" && r.Host == "" && r.HighAvailability == nil && r.Cluster == nil {
		ps.add(key, "needs host, url, high_availability.nodes or cluster.nodes")
	}
	if r.TLS != nil {
		r.TLS.validate(ps, key+".tls")
	}
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
		if n.Host == "" {
			ps.add(nk+".host", "required")
		} else if err := checkRedisHost(n.Host); err != nil {
			ps.add(nk+".host", "%v", err)
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

func (t *RedisTLS) validate(ps *problems, key string) {
	var minV, maxV uint16
	if t.MinimumVersion != "" {
		v, err := ParseTLSVersion(t.MinimumVersion)
		if err != nil {
			ps.add(key+".minimum_version", "%v", err)
		}
		minV = v
	}
	if t.MaximumVersion != "" {
		v, err := ParseTLSVersion(t.MaximumVersion)
		if err != nil {
			ps.add(key+".maximum_version", "%v", err)
		}
		maxV = v
	}
	if minV != 0 && maxV != 0 && minV > maxV {
		ps.add(key+".minimum_version", "%s is above maximum_version %s", t.MinimumVersion, t.MaximumVersion)
	}

	if t.CertificateAuthority != "" {
		b, err := ReadPEM(t.CertificateAuthority)
		switch {
		case err != nil:
			ps.add(key+".certificate_authority", "%v", err)
		case !x509.NewCertPool().AppendCertsFromPEM(b):
			ps.add(key+".certificate_authority", "contains no certificate")
		}
	}

	switch {
	case t.CertificateChain != "" && t.PrivateKey == "":
		ps.add(key+".private_key", "required with certificate_chain: a client certificate needs its key")
	case t.CertificateChain == "" && t.PrivateKey != "":
		ps.add(key+".certificate_chain", "required with private_key: a client key needs its certificate")
	}
	var chain, pkey []byte
	if t.CertificateChain != "" {
		b, err := ReadPEM(t.CertificateChain)
		if err != nil {
			ps.add(key+".certificate_chain", "%v", err)
		} else if !hasCertificate(b) {
			ps.add(key+".certificate_chain", "contains no certificate")
		} else {
			chain = b
		}
	}
	if t.PrivateKey != "" {
		b, err := ReadPEM(t.PrivateKey)
		if err != nil {
			ps.add(key+".private_key", "%v", err)
		} else {
			pkey = b
		}
	}
	if chain != nil && pkey != nil {
		// tls errors describe the mismatch, never the key.
		if _, err := tls.X509KeyPair(chain, pkey); err != nil {
			ps.add(key+".private_key", "does not form a key pair with certificate_chain: %v", err)
		}
	}
}

// hasCertificate reports whether b holds at least one parsable certificate.
func hasCertificate(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err == nil {
			return true
		}
	}
}
