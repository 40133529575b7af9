package http

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"gate/internal/config"
	"gate/internal/cookie"
)

// Site is one cookie domain as the server serves it: its cookie, its
// portal, where a login may land, and its session lifetimes. The request's
// host picks its Site.
type Site struct {
	Cookies *cookie.Codec
	// PortalURL is the public URL of this domain's login portal.
	PortalURL string
	// DefaultRedirectURL is where a login without a usable rd lands; empty
	// keeps the browser on the portal.
	DefaultRedirectURL string
	// Domain is the cookie's domain (session.domain, or an item's domain
	// in session.cookies).
	Domain     string
	Expiration time.Duration
	Inactivity time.Duration
	// RememberMe <= 0 disables remember-me.
	RememberMe time.Duration
}

// site is a Site prepared once, so that answering a request only compares
// strings.
type site struct {
	Site
	domain    string
	redirects redirectPolicy
	// base is the portal URL's path without a trailing slash; the portal's
	// routes live under it.
	base string
	// portal is the portal URL without a trailing slash, as
	// ?authelia_url= is compared with it.
	portal string
	// root is the portal URL as configured, without a trailing slash: the
	// provider buttons and redirect URIs start with it; portalLoc is the
	// portal's redirect target with its rd parameter to fill in.
	root      string
	portalLoc string
	// https: the portal is served over https, so cookies set there are
	// Secure.
	https     bool
	defaultRD string
	// realm is the portal host, named in WWW-Authenticate.
	realm string
}

func newSite(o Site) (*site, error) {
	if o.Cookies == nil {
		return nil, fmt.Errorf("http: the site of %q has no cookie codec", o.Domain)
	}
	// config's parsers, which Validate has run on the same values.
	portal, err := config.ParseSiteURL(o.PortalURL)
	if err != nil {
		return nil, fmt.Errorf("portal.url: %w", err)
	}
	domain, err := config.ParseDomain(o.Domain)
	if err != nil {
		return nil, fmt.Errorf("session.domain: %w", err)
	}
	s := &site{
		Site:      o,
		domain:    domain,
		base:      strings.TrimRight(portal.Path, "/"),
		https:     portal.Scheme == "https",
		redirects: redirectPolicy{domain: domain, httpsOnly: portal.Scheme == "https"},
	}
	s.root = portal.Scheme + "://" + portal.Host + s.base
	s.portal = strings.ToLower(s.root)
	s.portalLoc = s.root + "/?rd="
	s.realm = portal.Hostname()
	if rd, ok := s.redirects.safe(o.DefaultRedirectURL); ok {
		s.defaultRD = rd
	}
	return s, nil
}

// siteFor returns the site whose domain host is, or is under; nil when
// host is under none. host may carry a port. With one site it costs one
// comparison; config refuses overlapping domains, so at most one matches.
func (s *Server) siteFor(host string) *site {
	if i := s.siteIndex.Find(hostname(host)); i >= 0 {
		return s.sites[i]
	}
	return nil
}

// namesPortal reports whether raw, an ?authelia_url= value, is this
// site's portal URL (a trailing slash and the case of scheme and host
// aside).
func (st *site) namesPortal(raw string) bool {
	u, err := config.ParseSiteURL(raw)
	if err != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return strings.ToLower(u.Scheme+"://"+u.Host)+strings.TrimRight(u.Path, "/") == st.portal
}

// portalSite puts the site of the request's host in its state, so the
// portal's handlers serve that domain. base is the portal path the route
// belongs to: a host whose domain has its portal elsewhere gets 404 (one
// domain's login page must not set its cookie from another's path), and a
// host under no configured domain is served by fallback, the first site
// with its portal at base, as a gate of one domain always was.
func (s *Server) portalSite(base string, fallback *site) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st := s.siteFor(r.Host)
			switch {
			case st == nil:
				st = fallback
			case st.base != base:
				writeText(w, http.StatusNotFound, "not found")
				return
			}
			stateFrom(r.Context()).site = st
			next.ServeHTTP(w, r)
		})
	}
}

// siteOf is the site a portal request was routed to.
func siteOf(r *http.Request) *site { return stateFrom(r.Context()).site }
