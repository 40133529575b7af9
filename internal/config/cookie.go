package config

import (
	"net/http"
	"strings"
)

// SessionCookie is the session cookie as browsers receive it, for Check.
type SessionCookie struct {
	Name string
	// Domain is the Domain attribute: session.domain, or "" for a
	// host-only cookie.
	Domain string
	// Secure is set when the portal is served over https.
	Secure bool
	// SameSiteNone is set for SameSite=None.
	SameSiteNone bool
	// keys name the keys of these values in messages; the zero value names
	// the single-domain form's (session.name, session.domain).
	keys domainKeys
}

// key returns the key path of one value: the operator's own when the
// cookie came from CookieDomain.Cookie, the single-domain form's otherwise.
func (c SessionCookie) key(own, single string) string {
	if own != "" {
		return own
	}
	return single
}

// Cookie prefixes (RFC 6265bis, section 4.1.3). Browsers match them
// ignoring case, so "__host-gate" is bound by the same rules as
// "__Host-gate".
const (
	hostPrefix   = "__Host-"
	securePrefix = "__Secure-"
)

// Check reports every reason a browser, or net/http's SetCookie, would
// refuse the cookie, each as a Problem naming the key to change
// (session.name, session.domain, session.same_site). It is the one check
// of these attributes: Validate runs it on the configuration and
// cookie.New on what it is given, so a configuration that passes Validate
// never fails when the codec is built, and a login never sets a cookie
// that browsers drop (the user could then never log in).
func (c SessionCookie) Check() error {
	var ps problems
	c.check(&ps)
	return ps.err()
}

func (c SessionCookie) check(ps *problems) {
	c.checkName(ps)
	domainKey := c.key(c.keys.domain, singleKeys.domain)
	portalKey := c.key(c.keys.portal, singleKeys.portal)
	if c.Domain != "" {
		if _, err := ParseDomain(c.Domain); err != nil {
			ps.add(domainKey, "%v", err)
		} else if err := (&http.Cookie{Name: "x", Value: "x", Domain: c.Domain}).Valid(); err != nil {
			// net/http decides what SetCookie sends; ParseDomain is meant to
			// be stricter, and this keeps a difference from going unnoticed.
			ps.add(domainKey, "not accepted as a cookie domain: %v", err)
		}
	}
	if c.SameSiteNone && !c.Secure {
		// Browsers drop SameSite=None cookies that are not Secure, and the
		// cookie is Secure only behind an https portal.
		ps.add(c.key(c.keys.sameSite, singleKeys.sameSite), "none needs an https %s: browsers drop SameSite=None cookies without Secure", portalKey)
	}
}

func (c SessionCookie) checkName(ps *problems) {
	key := c.key(c.keys.name, singleKeys.name)
	portalKey := c.key(c.keys.portal, singleKeys.portal)
	switch {
	case c.Name == "":
		ps.add(key, "required: the cookie name")
	case !IsToken(c.Name):
		ps.add(key, "must be a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~), got %q", c.Name)
	case hasPrefixFold(c.Name, hostPrefix) && c.Domain != "":
		// A __Host- cookie must not carry a Domain; gate's carries
		// session.domain so that every protected subdomain receives it.
		ps.add(key, "must not start with %s (in any letter case): browsers refuse such a cookie with a Domain, and the session cookie is set for %s", hostPrefix, c.key(c.keys.domain, singleKeys.domain))
	case hasPrefixFold(c.Name, hostPrefix) && !c.Secure:
		ps.add(key, "a %s cookie needs an https %s", hostPrefix, portalKey)
	case hasPrefixFold(c.Name, securePrefix) && !c.Secure:
		ps.add(key, "a %s cookie (in any letter case) needs an https %s", securePrefix, portalKey)
	default:
		if err := (&http.Cookie{Name: c.Name, Value: "x"}).Valid(); err != nil {
			ps.add(key, "not accepted as a cookie name: %v", err)
		}
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
