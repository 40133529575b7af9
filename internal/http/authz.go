package http

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gate/internal/access"
	"gate/internal/session"
	"gate/internal/users"
)

// dialect is how a proxy describes the original request and how it wants to
// hear "go log in".
type dialect struct {
	name  string
	parse func(http.Header) (target, error)
	// clientHeaders are read, in order, to find the client address.
	clientHeaders []string
	// loginStatus picks the status for "go log in"; nginx accepts only 2xx,
	// 401 and 403 from auth_request, so it always gets 401 + Location.
	loginStatus func(r *http.Request, t target) int
	// tooManyStatus answers a request over a rate limit or banned by
	// regulation, always with Retry-After. nginx's auth_request takes no
	// 429 (it would answer 500), so that dialect says 403 with
	// Retry-After, which the shipped nginx configuration turns into a 429
	// with the same headers; a plain 403 never carries Retry-After.
	tooManyStatus int
}

var (
	forwardAuthDialect = dialect{
		name:          "forward-auth",
		parse:         parseForwardAuth,
		clientHeaders: []string{hForwardedFor},
		loginStatus: func(r *http.Request, t target) int {
			if scriptClient(r.Header) {
				return http.StatusUnauthorized
			}
			if t.Method == http.MethodGet || t.Method == http.MethodHead {
				return http.StatusFound
			}
			return http.StatusSeeOther
		},
		tooManyStatus: http.StatusTooManyRequests,
	}
	authRequestDialect = dialect{
		name:          "auth-request",
		parse:         parseAuthRequest,
		clientHeaders: []string{hForwardedFor, hRealIP},
		loginStatus:   func(*http.Request, target) int { return http.StatusUnauthorized },
		tooManyStatus: http.StatusForbidden,
	}
)

// authzDialect picks the dialect of an authz endpoint, nil for other paths.
func authzDialect(path string) *dialect {
	switch path {
	case "/api/authz/forward-auth":
		return &forwardAuthDialect
	case "/api/authz/auth-request":
		return &authRequestDialect
	}
	return nil
}

// serveAuthz answers the authz endpoints, which every request to every
// protected app waits on. They take no route through the router: no request
// copy for a context value, no status-recording wrapper, one clock read for
// the log and the latency metric. Any method is accepted, as proxies pass
// the original one.
func (s *Server) serveAuthz(w http.ResponseWriter, r *http.Request, d *dialect) {
	start := time.Now()
	st := s.newState()
	code := http.StatusInternalServerError
	defer func() {
		if v := recover(); v != nil {
			answerPanic(w, &st, v)
		}
		if m := s.opts.Metrics; m != nil {
			m.latency.Observe(time.Since(start).Seconds())
		}
		s.logRequest(&st, r, code, start)
	}()
	now := start
	if s.opts.Now != nil {
		now = s.opts.Now()
	}
	code = s.authorize(w, r, d, &st, now)
}

// identityHeaders are set on every 200 and on no other answer, so a proxy
// copying them never forwards a client's own value.
var identityHeaders = [...]string{"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name"}

// authorize decides and answers one authz request, returning the status.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, d *dialect, st *requestState, now time.Time) int {
	peer, ok := peerTrusted(r, s.trusted)
	if !ok {
		if s.untrusted.allow(peer) {
			st.logger().Warn().Str("peer", peer.String()).Str("endpoint", d.name).
				Msg("authz request from a peer outside server.trusted_proxies refused")
		}
		s.decided("untrusted_peer")
		return writeText(w, http.StatusForbidden, "forbidden")
	}
	t, err := d.parse(r.Header)
	if err != nil {
		s.decided("bad_request")
		return writeText(w, http.StatusBadRequest, err.Error())
	}
	// The target's host picks the cookie domain: its cookie is read, and
	// its portal is where a login is sent.
	st.site = s.siteFor(t.Host)
	if r.URL.RawQuery != "" && !s.portalNamed(r, st.site) {
		s.decided("bad_request")
		return writeText(w, http.StatusBadRequest, "authelia_url is not the portal of the requested domain")
	}
	sess, user, err := s.currentUser(r, st)
	if err != nil {
		return s.storeFailed(w, err)
	}
	req := access.Request{Method: t.Method, Host: t.Host, Path: t.URI, Client: forwardedClient(r.Header, peer, s.trusted, d.clientHeaders)}
	var subj *access.Subject
	if sess != nil {
		subj = &access.Subject{User: user.Name, Groups: user.Groups}
		if sess.NeedsTouch(now) {
			if err := s.opts.Sessions.Touch(r.Context(), sess.ID, now); err != nil && !errors.Is(err, session.ErrNotFound) {
				s.storeError(st, "touch", err)
				return s.storeFailed(w, err)
			}
		}
	}
	verdict := s.opts.Rules.Judge(req, subj)
	if verdict.Result == access.Login && sess == nil && (s.opts.Header.Basic || s.opts.Header.Tokens) {
		// Only a request that needs a login pays for a credential check:
		// bypass and deny rules never look at one.
		u, outcome, code := s.machineAuth(w, r, st, d, req.Client, now)
		switch outcome {
		case machineAnswered:
			s.decided("login")
			return code
		case machineUser:
			user = u
			subj = &access.Subject{User: user.Name, Groups: user.Groups}
			if verdict.AnyUser {
				verdict = verdict.AsUser()
			} else {
				verdict = s.opts.Rules.Judge(req, subj)
			}
		}
	}
	result := verdict.Result
	logDecision(st, d.name, t, user, result)
	if result == access.Allow && verdict.Limit != nil {
		if code, answered := s.overLimit(w, r, st, d, verdict.Limit, subj, req.Client); answered {
			return code
		}
	}
	switch result {
	case access.Allow:
		s.decided("allow")
		// One backing array for all five values: this runs on every request.
		vals := make([]string, 5)
		if subj != nil {
			vals[0], vals[1], vals[2], vals[3] = user.Name, user.GroupList(), user.Email, user.DisplayName
		}
		vals[4] = "no-store"
		h := w.Header()
		for i, k := range identityHeaders {
			h[k] = vals[i : i+1 : i+1]
		}
		h["Cache-Control"] = vals[4:5:5]
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	case access.Login:
		s.decided("login")
		if st.site == nil {
			// Rules admit a login only under a cookie domain; a host under
			// none could never carry the cookie back.
			s.decided("deny")
			return writeText(w, http.StatusForbidden, "forbidden")
		}
		w.Header().Set("Location", st.site.portalLoc+url.QueryEscape(t.URL()))
		return writeText(w, d.loginStatus(r, t), "authentication required")
	default:
		s.decided("deny")
		return writeText(w, http.StatusForbidden, "forbidden")
	}
}

// storeFailed answers a decision the store could not serve: 503, never
// an identity. A client that hung up meanwhile is counted as such, not
// as an error.
func (s *Server) storeFailed(w http.ResponseWriter, err error) int {
	if errors.Is(err, context.Canceled) {
		s.decided("canceled")
	} else {
		s.decided("error")
	}
	return writeText(w, http.StatusServiceUnavailable, "session store unavailable")
}

// currentUser resolves the request's cookie to a live session and its user.
// A missing, tampered or foreign cookie, an ended session, a session issued
// for another cookie domain, a user since disabled or removed, a user
// whose password hash changed since the login (the stamps differ), and a
// provider's unlinked user whose name the users file now has are all
// "no session" (nil, nil); only a store failure is an error, and callers
// must fail closed on it.
func (s *Server) currentUser(r *http.Request, st *requestState) (*session.Session, users.User, error) {
	if st == nil || st.site == nil {
		return nil, users.User{}, nil
	}
	id, err := st.site.Cookies.Read(r)
	if err != nil {
		return nil, users.User{}, nil
	}
	sess, err := s.opts.Sessions.Get(r.Context(), id)
	if errors.Is(err, session.ErrNotFound) {
		return nil, users.User{}, nil
	}
	if err != nil {
		s.storeError(st, "get", err)
		return nil, users.User{}, err
	}
	// Every domain's cookie is sealed with the same keys: without this, a
	// cookie of example.com copied into example.org's cookie of the same
	// name would sign its holder in there.
	if sess.Domain != st.site.domain {
		return nil, users.User{}, nil
	}
	// A provider's user without a users-file entry carries its identity
	// in the session; the users file neither revokes nor updates it (a
	// back-channel logout does). Every other session answers to its
	// users-file entry, a linked provider session included.
	if sess.External() {
		// An entry of its name added to the users file since the sign-in
		// would make the provider's user pass downstream as the file's
		// (one Remote-User, one subject user:<name>): no session, as the
		// callback refuses such a sign-in.
		if s.opts.Users.NameTaken(sess.User) {
			return nil, users.User{}, nil
		}
		return sess, externalUser(sess), nil
	}
	user, ok := s.opts.Users.Lookup(sess.User)
	if !ok || user.Stamp != sess.Stamp {
		return nil, users.User{}, nil
	}
	return sess, user, nil
}

// externalUser is the identity a provider session carries.
func externalUser(sess *session.Session) users.User {
	return users.User{Name: sess.User, DisplayName: sess.DisplayName, Email: sess.Email, Groups: sess.Groups}
}

// portalNamed checks ?authelia_url=, which Authelia's proxy snippets add
// to the authz endpoint's URL: when given, it must name the portal of the
// requested domain. Without it, or for a query without it (Caddy appends
// the client's own query string to the forward-auth request), the
// domain's own portal is used. Given twice, or naming another portal, it is
// refused: a client must not steer its login to a portal of another domain.
func (s *Server) portalNamed(r *http.Request, st *site) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	vals, given := q["authelia_url"]
	switch {
	case !given:
		return true
	case err != nil || len(vals) != 1 || st == nil:
		return false
	}
	return st.namesPortal(vals[0])
}

// scriptClient reports whether a request comes from code rather than a
// browser navigation; those get 401 instead of a redirect they cannot follow
// usefully.
func scriptClient(h http.Header) bool {
	if h.Get("X-Requested-With") == "XMLHttpRequest" {
		return true
	}
	accept := h.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// jsonClient is SPEC's "JSON client": Accept or Content-Type names JSON.
func jsonClient(h http.Header) bool {
	return strings.Contains(h.Get("Accept"), "application/json") ||
		strings.Contains(h.Get("Content-Type"), "application/json")
}
