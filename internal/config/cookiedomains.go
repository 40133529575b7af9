package config

import (
	"fmt"
	"net/url"
	"strings"
)

// CookieDomain is one cookie domain and everything that hangs on it: the
// cookie's name and attributes, the portal that sets it, where a login
// without a usable rd lands, and the session lifetimes. The single-domain
// form (session.domain, portal.url) is one CookieDomain; each item of
// session.cookies is another, with the session-wide values filled in where
// the item overrides nothing. Every consumer reads this list, never the two
// forms.
type CookieDomain struct {
	// Domain is lower-cased once Validate has accepted it.
	Domain             string
	PortalURL          string
	DefaultRedirectURL string
	Name               string
	SameSite           string
	Expiration         Duration
	// Inactivity of 0 disables the inactivity limit.
	Inactivity Duration
	// RememberMe of RememberMeDisabled disables remember-me.
	RememberMe Duration
	// keys name each value's key as the operator wrote it, for messages.
	keys domainKeys
}

// domainKeys are the key paths of one CookieDomain's values.
type domainKeys struct {
	section                                         string
	domain, portal, defaultRedirect, name, sameSite string
	expiration, inactivity, rememberMe              string
}

// singleKeys name the keys of the single-domain form.
var singleKeys = domainKeys{
	section:         "session",
	domain:          "session.domain",
	portal:          "portal.url",
	defaultRedirect: "portal.default_redirect_url",
	name:            "session.name",
	sameSite:        "session.same_site",
	expiration:      "session.expiration",
	inactivity:      "session.inactivity",
	rememberMe:      "session.remember_me",
}

// CookieDomains returns the configured cookie domains, in the order given:
// session.cookies when it is set, else the one domain of session.domain
// and portal.url.
func (c *Config) CookieDomains() []CookieDomain {
	s := c.Session
	if len(s.Cookies) == 0 {
		return []CookieDomain{{
			Domain:             s.Domain,
			PortalURL:          c.Portal.URL,
			DefaultRedirectURL: c.Portal.DefaultRedirectURL,
			Name:               s.Name,
			SameSite:           s.SameSite,
			Expiration:         s.Expiration,
			Inactivity:         s.Inactivity,
			RememberMe:         s.RememberMe,
			keys:               singleKeys,
		}}
	}
	out := make([]CookieDomain, len(s.Cookies))
	for i, e := range s.Cookies {
		out[i] = e.resolve(s, indexKey("session.cookies", i))
	}
	return out
}

// resolve fills what e leaves out from the session-wide values s.
func (e CookieEntry) resolve(s Session, key string) CookieDomain {
	d := CookieDomain{
		Domain:             e.Domain,
		PortalURL:          e.PortalURL,
		DefaultRedirectURL: e.DefaultRedirectionURL,
		Name:               s.Name,
		SameSite:           s.SameSite,
		Expiration:         s.Expiration,
		Inactivity:         s.Inactivity,
		RememberMe:         s.RememberMe,
		keys: domainKeys{
			section:         key,
			domain:          key + ".domain",
			portal:          key + ".authelia_url",
			defaultRedirect: key + ".default_redirection_url",
			name:            singleKeys.name,
			sameSite:        singleKeys.sameSite,
			expiration:      singleKeys.expiration,
			inactivity:      singleKeys.inactivity,
			rememberMe:      singleKeys.rememberMe,
		},
	}
	if e.Name != "" {
		d.Name, d.keys.name = e.Name, key+".name"
	}
	if e.SameSite != "" {
		d.SameSite, d.keys.sameSite = e.SameSite, key+".same_site"
	}
	if e.Expiration != nil {
		d.Expiration, d.keys.expiration = *e.Expiration, key+".expiration"
	}
	if e.Inactivity != nil {
		d.Inactivity, d.keys.inactivity = *e.Inactivity, key+".inactivity"
	}
	if e.RememberMe != nil {
		d.RememberMe, d.keys.rememberMe = *e.RememberMe, key+".remember_me"
	}
	return d
}

// Key is the key path of the domain's section, for messages about it as a
// whole: "session" for the single-domain form, "session.cookies[1]" for an
// item of the list.
func (d CookieDomain) Key() string { return d.keys.section }

// HTTPS reports whether the domain's portal is served over https: its
// cookie is then Secure.
func (d CookieDomain) HTTPS() bool {
	u, err := ParseSiteURL(d.PortalURL)
	return err == nil && u.Scheme == "https"
}

// RememberMeEnabled reports whether logins on this domain may ask for a
// long session.
func (d CookieDomain) RememberMeEnabled() bool { return d.RememberMe > 0 }

// Cookie describes the domain's session cookie, for SessionCookie.Check.
func (d CookieDomain) Cookie() SessionCookie {
	return SessionCookie{
		Name:         d.Name,
		Domain:       d.Domain,
		Secure:       d.HTTPS(),
		SameSiteNone: d.SameSite == "none",
		keys:         d.keys,
	}
}

// validateCookieDomains checks the two forms against each other and then
// each domain on its own.
func (c *Config) validateCookieDomains(ps *problems) {
	s := &c.Session
	if len(s.Cookies) > 0 {
		for _, given := range []struct{ key, value string }{
			{"session.domain", s.Domain},
			{"portal.url", c.Portal.URL},
			{"portal.default_redirect_url", c.Portal.DefaultRedirectURL},
		} {
			if given.value != "" {
				ps.add("session.cookies", "cannot be set together with %s: give every domain as an item of session.cookies, or one domain with session.domain and portal.url", given.key)
			}
		}
		for i := range s.Cookies {
			if d, err := ParseDomain(s.Cookies[i].Domain); err == nil {
				s.Cookies[i].Domain = d
			}
		}
	} else if d, err := ParseDomain(s.Domain); err == nil {
		s.Domain = d
	}
	domains := c.CookieDomains()
	for _, d := range domains {
		d.validate(ps)
	}
	checkOverlap(domains, ps)
}

// checkOverlap refuses domains of which one is, or is under, another: a
// host under both would get two cookies and two portals, and a session of
// one domain would be sent to the apps of the other.
func checkOverlap(domains []CookieDomain, ps *problems) {
	for j := range domains {
		for i := range j {
			a, b := domains[i].Domain, domains[j].Domain
			if a == "" || b == "" || !WithinDomain(a, b) && !WithinDomain(b, a) {
				continue
			}
			ps.add(domains[j].keys.domain, "%q overlaps %s %q: one cookie domain may not be, or be under, another", b, domains[i].keys.domain, a)
		}
	}
}

func (d CookieDomain) validate(ps *problems) {
	k := d.keys
	if d.Domain == "" {
		ps.add(k.domain, "required: the domain the session cookie is set for")
	}
	switch d.SameSite {
	case "lax", "strict", "none":
	default:
		ps.add(k.sameSite, "must be lax, strict or none, got %q", d.SameSite)
	}
	// The cookie check reports a bad domain, and the name and SameSite
	// rules browsers apply.
	d.Cookie().check(ps)

	positive(ps, k.expiration, d.Expiration)
	switch {
	case d.Inactivity < 0:
		ps.add(k.inactivity, "must be 0 (no limit) or positive, got %v", d.Inactivity)
	case d.Expiration > 0 && d.Inactivity > d.Expiration:
		ps.add(k.inactivity, "%v is longer than %s %v", d.Inactivity, k.expiration, d.Expiration)
	}
	if d.RememberMe <= 0 && d.RememberMe != RememberMeDisabled {
		ps.add(k.rememberMe, "must be positive, or -1 to disable remember-me, got %v", d.RememberMe)
	}
	d.validatePortal(ps)
}

// validatePortal checks that the portal and the default redirect are
// under the domain: a portal outside it could not read the cookie it sets,
// and a default redirect outside it would lead a user away signed out.
func (d CookieDomain) validatePortal(ps *problems) {
	k := d.keys
	domain, domainErr := ParseDomain(d.Domain)
	portal, err := ParseSiteURL(d.PortalURL)
	switch {
	case d.PortalURL == "":
		ps.add(k.portal, "required: the public URL of the login portal")
	case err != nil:
		ps.add(k.portal, "%v", err)
	case portal.RawQuery != "" || portal.Fragment != "":
		ps.add(k.portal, "must have no query or fragment: gate appends /?rd=")
	case domainErr == nil && !WithinDomain(portal.Hostname(), domain):
		ps.add(k.portal, "host %q is not %s %q or a subdomain of it: the session cookie would not reach the portal", portal.Hostname(), k.domain, domain)
	}
	if d.DefaultRedirectURL == "" {
		return
	}
	u, err := ParseSiteURL(d.DefaultRedirectURL)
	switch {
	case err != nil:
		ps.add(k.defaultRedirect, "%v", err)
	case domainErr == nil && !WithinDomain(u.Hostname(), domain):
		ps.add(k.defaultRedirect, "host %q is not %s %q or a subdomain of it", u.Hostname(), k.domain, domain)
	case portal != nil && portal.Scheme == "https" && u.Scheme != "https":
		ps.add(k.defaultRedirect, "must be https, as %s is", k.portal)
	}
}

// PortalBase is the portal URL's scheme, host and path without a trailing
// slash: where the portal's routes live. The URL is one Validate accepted.
func (d CookieDomain) PortalBase() (*url.URL, error) {
	u, err := ParseSiteURL(d.PortalURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.keys.portal, err)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}
