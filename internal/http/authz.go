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
	}
	authRequestDialect = dialect{
		name:          "auth-request",
		parse:         parseAuthRequest,
		clientHeaders: []string{hForwardedFor, hRealIP},
		loginStatus:   func(*http.Request, target) int { return http.StatusUnauthorized },
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
	result := s.opts.Rules.Decide(req, subj)
	logDecision(st, d.name, t, user, result)
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
		w.Header().Set("Location", s.portalLoc+url.QueryEscape(t.URL()))
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
// A missing, tampered or foreign cookie, an ended session, a user since
// disabled or removed, and a user whose password hash changed since the
// login (the stamps differ) are all "no session" (nil, nil); only a store
// failure is an error, and callers must fail closed on it.
func (s *Server) currentUser(r *http.Request, st *requestState) (*session.Session, users.User, error) {
	id, err := s.opts.Cookies.Read(r)
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
	user, ok := s.opts.Users.Lookup(sess.User)
	if !ok || user.Stamp != sess.Stamp {
		return nil, users.User{}, nil
	}
	return sess, user, nil
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
