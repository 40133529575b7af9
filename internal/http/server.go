package http

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"gate/internal/access"
	"gate/internal/config"
	"gate/internal/cookie"
	"gate/internal/credcache"
	"gate/internal/oidc"
	"gate/internal/ratelimit"
	"gate/internal/regulation"
	"gate/internal/session"
	"gate/internal/users"
	"gate/web"
)

// UserDirectory authenticates logins and tells, on every request, whether a
// session's user still exists and is enabled.
type UserDirectory interface {
	Authenticate(ctx context.Context, name, password string) (users.User, error)
	Lookup(name string) (users.User, bool)
	// NameTaken reports an entry of the name up to letter case, disabled
	// or not: a provider's unlinked user may not carry it.
	NameTaken(name string) bool
}

// Regulator counts login attempts before their password is checked and
// refuses them after repeated failures (regulation.Regulator).
type Regulator interface {
	Begin(ctx context.Context, user string, client netip.Addr) (*regulation.Attempt, time.Duration, error)
	// BeginClient counts a credential that names no user (an API token)
	// under its client alone.
	BeginClient(ctx context.Context, client netip.Addr) (*regulation.Attempt, time.Duration, error)
}

// Options wires a Server. Every field but Now and Metrics is required;
// Sites may stand for the single domain's Cookies, PortalURL,
// DefaultRedirectURL, Domain, Expiration, Inactivity and RememberMe.
type Options struct {
	// Sessions is the store contract itself: the handlers use all of it
	// but Close, which its owner calls. Every site's sessions share it.
	Sessions session.Store
	// Sites are the cookie domains (session.cookies), each with its own
	// cookie and portal; when empty, the single-domain fields below are
	// the one site.
	Sites   []Site
	Cookies *cookie.Codec
	Users   UserDirectory
	// Rules is concrete, not an interface: through an interface call the
	// subject of every decision would escape to the heap.
	Rules     *access.Rules
	Regulator Regulator
	Logger    zerolog.Logger
	// Metrics is nil when metrics are disabled.
	Metrics *Metrics

	// PortalURL is the public URL of the login portal.
	PortalURL string
	// DefaultRedirectURL is where a login without a usable rd lands; empty
	// keeps the browser on the portal.
	DefaultRedirectURL string
	// Domain is session.domain.
	Domain         string
	TrustedProxies []netip.Prefix
	Expiration     time.Duration
	Inactivity     time.Duration
	// RememberMe <= 0 disables remember-me.
	RememberMe time.Duration
	// WriteTimeout is server.write_timeout; 0 when there is none. A login
	// waits for a password worker only for a part of it, so that it can
	// still answer.
	WriteTimeout time.Duration

	// Header is authentication_backend.header: Basic and token
	// credentials on the authz endpoints.
	Header config.HeaderBackend
	// Tokens authenticates API tokens; nil turns tokens off.
	Tokens TokenDirectory
	// Credentials caches verified Basic credentials; nil caches nothing.
	Credentials CredentialCache
	// CredentialKey keys the names of cached credentials (keys.Set's
	// Credentials); required with Header.Basic.
	CredentialKey []byte
	// Limiter counts the requests of rules with a rate_limit; nil counts
	// them in memory, for this instance alone.
	Limiter RateLimiter
	// RateLimitKey keys the names of rate-limit counters (keys.Set's
	// RateLimit); required when a rule has a rate_limit.
	RateLimitKey []byte

	// OIDC are the upstream OpenID Connect providers, in configuration
	// order (their buttons' order). Sessions must then implement
	// DeleteProvider (session.Store does).
	OIDC []*oidc.Provider
	// NoPasswords: there is no users file; the portal shows only the
	// providers' buttons.
	NoPasswords bool

	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server answers gate's HTTP endpoints.
type Server struct {
	opts    Options
	now     func() time.Time
	trusted trustedNets
	// sites are the cookie domains, in configuration order; their domains
	// do not overlap.
	sites     []*site
	siteIndex config.DomainSet // finds a host's site among sites
	tmpl      *template.Template
	cop       *http.CrossOriginProtection
	untrusted *onceEvery
	ids       *requestIDs
	router    chi.Router
	// basicChecks shares one password check among concurrent requests
	// with the same Basic credential.
	basicChecks credcache.Group[basicResult]
	limiter     RateLimiter
	// credNames and limitNames name credentials and rate-limit counters
	// with pooled HMAC states.
	credNames  *credcache.Namer
	limitNames *ratelimit.Namer
	// providers are Options.OIDC by id.
	providers map[string]*oidc.Provider
}

// New checks opts and builds the router.
func New(opts Options) (*Server, error) {
	if opts.Sessions == nil || opts.Users == nil || opts.Rules == nil || opts.Regulator == nil {
		return nil, errors.New("http: sessions, users, rules and regulator are required")
	}
	sites := opts.Sites
	if len(sites) == 0 {
		sites = []Site{{
			Cookies: opts.Cookies, PortalURL: opts.PortalURL, DefaultRedirectURL: opts.DefaultRedirectURL,
			Domain: opts.Domain, Expiration: opts.Expiration, Inactivity: opts.Inactivity, RememberMe: opts.RememberMe,
		}}
	}
	tmpl, err := web.Templates()
	if err != nil {
		return nil, fmt.Errorf("http: portal templates: %w", err)
	}
	s := &Server{
		opts:      opts,
		now:       opts.Now,
		trusted:   trustedNets(opts.TrustedProxies),
		tmpl:      tmpl,
		cop:       http.NewCrossOriginProtection(),
		untrusted: newOnceEvery(time.Minute, 4096),
		ids:       newRequestIDs(),
	}
	var domains []string
	for _, o := range sites {
		st, err := newSite(o)
		if err != nil {
			return nil, err
		}
		s.sites = append(s.sites, st)
		domains = append(domains, st.domain)
	}
	s.siteIndex = config.NewDomainSet(domains)
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Header.Basic && len(opts.CredentialKey) < 32 {
		return nil, errors.New("http: a credential key of at least 32 bytes is required with header.basic")
	}
	if opts.Rules.Limited() && len(opts.RateLimitKey) < 32 {
		return nil, errors.New("http: a rate-limit key of at least 32 bytes is required with a rule's rate_limit")
	}
	s.providers = make(map[string]*oidc.Provider, len(opts.OIDC))
	for _, p := range opts.OIDC {
		if _, dup := s.providers[p.ID()]; dup {
			return nil, fmt.Errorf("http: two providers with the id %q", p.ID())
		}
		s.providers[p.ID()] = p
	}
	s.credNames = credcache.NewNamer(opts.CredentialKey)
	s.limitNames = ratelimit.NewNamer(opts.RateLimitKey)
	s.limiter = opts.Limiter
	if s.limiter == nil {
		s.limiter = ratelimit.NewMemory(0, s.now)
	}
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusForbidden, "cross-origin request refused")
	}))
	s.router = s.routes()
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
//
// Routes match the path as sent, not as decoded: /api/authz%2fforward-auth
// is not the authz endpoint (a proxy blocking /api/authz/ on the portal host
// compares the raw path too). Go keeps RawPath only when the sent path
// differs from the decoded one, and chi then routes on RawPath as well.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d := authzDialect(r.URL.Path); d != nil && r.URL.RawPath == "" {
		s.serveAuthz(w, r, d)
		return
	}
	s.router.ServeHTTP(w, r)
}

// routes builds the router for every endpoint but the two authz ones.
//
// The authz endpoints never reach this router: ServeHTTP answers them
// first (serveAuthz), as they run for every request to every protected
// app. A middleware added here with r.Use does not run for them; what
// requestContext and recoverer give routed requests (request id, access
// log, panic recovery) serveAuthz does itself, and
// TestBothPathsLogAndRecover holds the two paths to the same behaviour.
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.requestContext, s.recoverer)

	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	if s.opts.Metrics != nil {
		r.Handle("/metrics", s.opts.Metrics.Handler())
	}

	// Each portal path is routed once; the request's host then picks the
	// site among those whose portal lives there (portalSite).
	seen := map[string]bool{}
	for _, st := range s.sites {
		if seen[st.base] {
			continue
		}
		seen[st.base] = true
		s.routePortal(r, st.base, st)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { writeText(w, http.StatusNotFound, "not found") })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	return r
}

// routePortal serves the portal under base, for the sites whose portal
// lives there.
func (s *Server) routePortal(r chi.Router, base string, fallback *site) {
	portal := func(r chi.Router) {
		r.Use(portalHeaders, s.portalSite(base, fallback))
		r.Get("/", s.handlePortal)
		r.Handle("/static/*", staticHandler(base))
		r.Get("/api/session", s.handleSession)
		if len(s.providers) > 0 {
			// The start and callback are top-level GET navigations; the
			// back-channel logout is the provider's server calling, with
			// no browser and no origin, and authenticated by its token.
			r.Get("/api/oidc/{provider}/start", s.handleOIDCStart)
			r.Get("/api/oidc/{provider}/callback", s.handleOIDCCallback)
			r.With(limitBody).Post("/api/oidc/{provider}/backchannel-logout", s.handleOIDCLogout)
		}
		r.Group(func(r chi.Router) {
			r.Use(s.cop.Handler, limitBody)
			r.Post("/api/login", s.handleLogin)
			r.Post("/api/logout", s.handleLogout)
		})
	}
	if base == "" {
		r.Group(portal)
		return
	}
	r.Route(base, portal)
	// A bare prefix without its slash lands on the portal.
	r.Get(base, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, base+"/", http.StatusMovedPermanently)
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.Sessions.Ping(ctx); err != nil {
		s.storeError(stateFrom(r.Context()), "ping", err)
		writeText(w, http.StatusServiceUnavailable, "session store unavailable")
		return
	}
	writeText(w, http.StatusOK, "ready")
}

// writeText answers with a one-line plain text body and returns the status.
func writeText(w http.ResponseWriter, code int, msg string) int {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
	return code
}
