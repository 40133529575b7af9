package config

import (
	"os"
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
	s.trustedPrefixes(ps)
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

// HTTPS reports whether the portal is served over https: the session
// cookie is then Secure.
func (p Portal) HTTPS() bool {
	u, err := ParseSiteURL(p.URL)
	return err == nil && u.Scheme == "https"
}

func (c *Config) validateAuthenticationBackend(ps *problems) {
	if h := c.AuthenticationBackend.Header; h.Cache < 0 {
		ps.add("authentication_backend.header.cache", "must be 0 (no cache) or positive, got %v", h.Cache)
	}
	c.validateOIDC(ps)
	const key = "authentication_backend.file.path"
	p := c.AuthenticationBackend.File.Path
	if p == "" {
		if len(c.AuthenticationBackend.OIDC) == 0 {
			ps.add(key, "required: the users file (or a provider in authentication_backend.oidc)")
		}
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
	switch n := utf8.RuneCountInString(s.Secret); {
	case n == 0:
		ps.add("session.secret", "required: at least %d characters (or GATE_SESSION_SECRET_FILE)", minSecretLength)
	case n < minSecretLength:
		ps.add("session.secret", "too short: %d characters, need at least %d", n, minSecretLength)
	}

	c.validateCookieDomains(ps)
}

// SessionCookie describes the session cookie of the first cookie domain:
// the only one in the single-domain form.
func (c *Config) SessionCookie() SessionCookie {
	return c.CookieDomains()[0].Cookie()
}

func positive(ps *problems, key string, d time.Duration) {
	if d <= 0 {
		ps.add(key, "must be positive, got %v", d)
	}
}
