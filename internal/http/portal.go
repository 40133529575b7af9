package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/session"
	"gate/internal/users"
	"gate/web"
)

// portalCSP is the page's Content-Security-Policy before form-action is
// completed: no script at all, assets only from ourselves.
const portalCSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// portalHeaders sets the security headers every portal answer carries.
func portalHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", portalCSP)
		h.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: under no-referrer browsers send
		// "Origin: null" with the login form's POST, and where they send no
		// Sec-Fetch-Site (plain http, older browsers) the cross-origin check
		// must refuse it. Other origins still get no Referer.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// maxBody bounds login and logout bodies; credentials are short.
const maxBody = 16 << 10

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

func staticHandler(base string) http.Handler {
	files := http.FileServerFS(web.Static())
	return http.StripPrefix(base+"/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets are embedded and change only with the binary.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		if _, err := fs.Stat(web.Static(), strings.TrimPrefix(r.URL.Path, "/")); err != nil || r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			writeText(w, http.StatusNotFound, "not found")
			return
		}
		files.ServeHTTP(w, r)
	}))
}

// portalView is what the portal template shows.
type portalView struct {
	Base       string
	User       *users.User
	RD         string
	Continue   string
	Username   string
	Error      string
	Message    string
	RememberMe bool
	// Providers are the buttons of the OpenID Connect providers;
	// Passwords is whether the password form is shown (a users file).
	Providers []providerButton
	Passwords bool
	// Refresh, when set, moves the browser on to it (a meta refresh, no
	// script); it is a validated destination.
	Refresh string
}

// renderPortal writes the portal page. The CSP's form-action admits, besides
// ourselves, exactly the origins a login or logout from this page may
// redirect to: browsers check form-action on the redirect after a POST.
func (s *Server) renderPortal(w http.ResponseWriter, r *http.Request, code int, v portalView) {
	site := siteOf(r)
	v.Base = site.base
	v.RememberMe = site.RememberMe > 0
	v.Passwords = !s.opts.NoPasswords
	if v.User == nil {
		v.Providers = s.providerButtons(site, v.RD)
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "portal", v); err != nil {
		logFrom(r).Error().Err(err).Msg("render portal")
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	origins := []string{"'self'"}
	for _, u := range []string{v.RD, site.defaultRD} {
		if o := origin(u); o != "" && !contains(origins, o) {
			origins = append(origins, o)
		}
	}
	h := w.Header()
	h.Set("Content-Security-Policy", strings.TrimSuffix(portalCSP, "'self'")+strings.Join(origins, " "))
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func origin(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Server) handlePortal(w http.ResponseWriter, r *http.Request) {
	site := siteOf(r)
	rd, _ := site.redirects.safe(r.URL.Query().Get("rd"))
	sess, user, err := s.currentUser(r, stateFrom(r.Context()))
	if err != nil {
		s.refuse(w, r, false, http.StatusServiceUnavailable, "sign-in is unavailable right now, please try again shortly", portalView{RD: rd})
		return
	}
	if sess != nil {
		// Already signed in: carry on to where the proxy sent us from.
		if rd != "" {
			http.Redirect(w, r, rd, http.StatusFound)
			return
		}
		s.renderPortal(w, r, http.StatusOK, portalView{User: &user, Continue: site.defaultRD})
		return
	}
	s.renderPortal(w, r, http.StatusOK, portalView{RD: rd})
}

// loginRequest is a login from the form or from JSON.
type loginRequest struct {
	Username   string
	Password   string
	RememberMe bool
	RD         string
}

// readLogin reads a login body strictly: a proxy, a WAF or the app in
// front of gate may read the same body with another parser, and any
// leniency (keys matched regardless of case, a repeated key or field
// taking its first or last value) would let the two disagree about who is
// logging in.
func readLogin(r *http.Request) (loginRequest, bool, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		req, err := decodeLoginJSON(r.Body)
		return req, true, err
	case "application/x-www-form-urlencoded":
		req, err := decodeLoginForm(r)
		return req, false, err
	default:
		return loginRequest{}, jsonClient(r.Header), errors.New("unsupported content type")
	}
}

// decodeLoginJSON reads one JSON object whose keys are exactly username,
// password, remember_me and rd, each at most once, and nothing after it.
func decodeLoginJSON(body io.Reader) (loginRequest, error) {
	var req loginRequest
	dec := json.NewDecoder(body)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return req, errors.New("invalid JSON body: want an object")
	}
	seen := make(map[string]bool, 4)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return req, errors.New("invalid JSON body")
		}
		key, _ := tok.(string)
		var dst any
		switch key {
		case "username":
			dst = &req.Username
		case "password":
			dst = &req.Password
		case "remember_me":
			dst = &req.RememberMe
		case "rd":
			dst = &req.RD
		default:
			return req, fmt.Errorf("unknown key %.40q in JSON body", key)
		}
		if seen[key] {
			return req, fmt.Errorf("repeated key %q in JSON body", key)
		}
		seen[key] = true
		if err := dec.Decode(dst); err != nil {
			return req, fmt.Errorf("invalid JSON body: wrong type for %q", key)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return req, errors.New("invalid JSON body")
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, errors.New("invalid JSON body: data after the object")
	}
	return req, nil
}

// decodeLoginForm reads the form body; a field sent twice is refused.
func decodeLoginForm(r *http.Request) (loginRequest, error) {
	if err := r.ParseForm(); err != nil {
		return loginRequest{}, errors.New("invalid form body")
	}
	f := r.PostForm
	for k, v := range f {
		if len(v) > 1 {
			return loginRequest{}, fmt.Errorf("repeated form field %.40q", k)
		}
	}
	return loginRequest{
		Username:   f.Get("username"),
		Password:   f.Get("password"),
		RememberMe: f.Get("remember_me") == "on" || f.Get("remember_me") == "true",
		RD:         f.Get("rd"),
	}, nil
}

// maxCredential bounds usernames and passwords; argon2 over a megabyte
// password would be a cheap way to burn our CPU.
const maxCredential = 1024

// busyRetryAfter is the Retry-After of a login refused because every
// password worker is busy: a burst of logins is over within seconds.
const busyRetryAfter = time.Second

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	req, isJSON, err := readLogin(r)
	isJSON = isJSON || jsonClient(r.Header)
	if err == nil && (req.Username == "" || req.Password == "") {
		err = errors.New("username and password are required")
	}
	if err == nil && (len(req.Username) > maxCredential || len(req.Password) > maxCredential) {
		err = errors.New("username or password too long")
	}
	if err != nil {
		s.loginCount("bad_request")
		s.loginFailed(w, r, isJSON, http.StatusBadRequest, err.Error(), req)
		return
	}
	client := clientAddr(r, s.trusted, hForwardedFor, hRealIP)
	user, ok := s.authenticate(w, r, req, isJSON, client)
	if !ok {
		return
	}
	st := stateFrom(r.Context())
	site := st.site
	sess, err := s.startSession(w, r, site, user, req.RememberMe, nil)
	if errors.Is(err, errCookie) {
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	if err != nil {
		s.loginCount("error")
		s.loginFailed(w, r, isJSON, http.StatusServiceUnavailable, "sign-in is unavailable right now", req)
		return
	}
	s.loginCount("success")
	st.logger().Info().Str("client", client.String()).Str("user", user.Name).Bool("remember_me", sess.RememberMe).
		Msg("login succeeded")

	dest, ok := site.redirects.safe(req.RD)
	if !ok {
		dest = site.defaultRD
	}
	if isJSON {
		writeJSON(w, http.StatusOK, map[string]string{"user": user.Name, "redirect": dest})
		return
	}
	if dest == "" {
		dest = site.base + "/"
	}
	http.Redirect(w, r, dest, http.StatusFound)
}

// authenticate counts the attempt with the regulator before the password
// is checked, checks it, and ends the attempt with the outcome. It reports
// whether the password was right; on any other outcome it has answered
// the client: 429 while regulation refuses, 401 for wrong credentials,
// 503 with Retry-After when every password worker is busy, 503 when the
// regulation store fails.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, req loginRequest, isJSON bool, client netip.Addr) (users.User, bool) {
	ctx := r.Context()
	st := stateFrom(ctx)
	log := st.logger().With().Str("client", client.String()).Logger()

	attempt, wait, err := s.opts.Regulator.Begin(ctx, req.Username, client)
	if err != nil {
		s.storeError(st, "regulation", err)
		s.loginCount("error")
		s.loginFailed(w, r, isJSON, http.StatusServiceUnavailable, "sign-in is unavailable right now", req)
		return users.User{}, false
	}
	if attempt == nil {
		s.loginCount("banned")
		log.Warn().Msg("login refused: too many failed attempts")
		setRetryAfter(w, wait)
		s.loginFailed(w, r, isJSON, http.StatusTooManyRequests, "too many failed attempts, try again later", req)
		return users.User{}, false
	}

	user, err := s.checkPassword(ctx, req)
	switch {
	case err == nil:
		if err := attempt.Succeed(ctx); err != nil {
			s.storeError(st, "regulation", err)
		}
		return user, true
	case errors.Is(err, users.ErrInvalidCredentials):
		if err := attempt.Fail(ctx); err != nil {
			s.storeError(st, "regulation", err)
		}
		s.loginCount("failure")
		log.Info().Msg("login failed")
		s.loginFailed(w, r, isJSON, http.StatusUnauthorized, "invalid credentials", req)
		return users.User{}, false
	}
	// The password was not checked: the attempt counts for nothing.
	if err := attempt.Abandon(ctx); err != nil {
		s.storeError(st, "regulation", err)
	}
	s.uncheckedLogin(w, r, req, isJSON, log, err)
	return users.User{}, false
}

// uncheckedLogin answers a login whose password could not be checked:
// 503, with Retry-After when every password worker was busy.
func (s *Server) uncheckedLogin(w http.ResponseWriter, r *http.Request, req loginRequest, isJSON bool, log zerolog.Logger, err error) {
	switch {
	case errors.Is(err, users.ErrBusy):
		s.loginCount("busy")
		log.Warn().Msg("login refused: every password worker is busy")
		setRetryAfter(w, busyRetryAfter)
		s.loginFailed(w, r, isJSON, http.StatusServiceUnavailable, "too many sign-ins at once, try again shortly", req)
		return
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		log.Debug().Err(err).Msg("login abandoned")
	default:
		log.Error().Err(err).Msg("password check failed")
	}
	s.loginCount("error")
	s.loginFailed(w, r, isJSON, http.StatusServiceUnavailable, "sign-in is unavailable right now", req)
}

// checkPassword checks the password within the connection's write
// timeout, which bounds the wait for a password worker.
func (s *Server) checkPassword(ctx context.Context, req loginRequest) (users.User, error) {
	if s.opts.WriteTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.WriteTimeout)
		defer cancel()
	}
	return s.opts.Users.Authenticate(ctx, req.Username, req.Password)
}

// setRetryAfter sets Retry-After to d in whole seconds, rounded up.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
}

// errCookie: the session was created but its cookie could not be written.
var errCookie = errors.New("http: write session cookie")

// startSession signs the client in as u on site, for a password login and
// a provider's sign-in alike: the session the client still presents ends
// (a cookie planted by someone else must never become this user's
// session), a new one is created under a new id, and its cookie written.
// from, when not nil, marks the session as signed in through a provider.
// Store failures are logged here and returned; errCookie is returned when
// the cookie could not be written.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, site *site, u users.User, rememberMe bool, from *providerLogin) (*session.Session, error) {
	ctx := r.Context()
	st := stateFrom(ctx)
	if id, err := site.Cookies.Read(r); err == nil {
		if err := s.opts.Sessions.Delete(ctx, id); err != nil {
			s.storeError(st, "delete", err)
		}
	}
	sess, maxAge, err := s.newSession(site, u, rememberMe, from)
	if err == nil {
		err = s.opts.Sessions.Create(ctx, sess)
	}
	if err != nil {
		s.storeError(st, "create", err)
		return nil, err
	}
	if err := site.Cookies.Write(w, sess.ID, maxAge); err != nil {
		st.logger().Error().Err(err).Msg("write session cookie")
		return nil, errCookie
	}
	return sess, nil
}

// providerLogin is what a session signed in through a provider remembers
// of it, for back-channel logout.
type providerLogin struct {
	provider, subject, sid string
}

// newSession builds the record for a fresh login; maxAge is the cookie's
// lifetime, 0 for a browser-session cookie. from, when not nil, is the
// provider the user signed in through; the id is issued for the record's
// Owner.
func (s *Server) newSession(site *site, u users.User, rememberMe bool, from *providerLogin) (*session.Session, time.Duration, error) {
	now := s.now()
	sess := &session.Session{
		User:         u.Name,
		DisplayName:  u.DisplayName,
		Email:        u.Email,
		Groups:       u.Groups,
		Stamp:        u.Stamp,
		Domain:       site.domain,
		CreatedAt:    now,
		LastActivity: now,
	}
	if from != nil {
		sess.Provider, sess.Subject, sess.SID = from.provider, from.subject, from.sid
	}
	id, err := s.opts.Sessions.NewID(sess.Owner())
	if err != nil {
		return nil, 0, err
	}
	sess.ID = id
	if rememberMe && site.RememberMe > 0 {
		sess.RememberMe = true
		sess.ExpiresAt = now.Add(site.RememberMe)
		return sess, site.RememberMe, nil
	}
	sess.ExpiresAt = now.Add(site.Expiration)
	sess.Inactivity = site.Inactivity
	return sess, 0, nil
}

// loginFailed answers a refused login without saying which part was wrong;
// the page keeps the username and the validated rd.
func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, isJSON bool, code int, msg string, req loginRequest) {
	rd, _ := siteOf(r).redirects.safe(req.RD)
	s.refuse(w, r, isJSON, code, msg, portalView{RD: rd, Username: req.Username})
}

// refuse is the one way a portal handler answers a failure: msg, short and
// lower-case, goes to the client as JSON {"error": msg} when it asked for
// JSON, otherwise on the portal page v. What went wrong inside is for the
// log, which the caller writes; msg never carries it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, isJSON bool, code int, msg string, v portalView) {
	if isJSON {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	v.Error = capitalize(msg) + "."
	s.renderPortal(w, r, code, v)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	site := siteOf(r)
	site.Cookies.Clear(w)
	if id, err := site.Cookies.Read(r); err == nil {
		err := s.endSessions(r, site, id, r.URL.Query().Get("all") == "true")
		if err != nil {
			s.storeError(stateFrom(r.Context()), "logout", err)
			s.refuse(w, r, jsonClient(r.Header), http.StatusServiceUnavailable, "signing out failed on the server, please try again", portalView{})
			return
		}
	}
	if rd, ok := site.redirects.safe(r.URL.Query().Get("rd")); ok {
		http.Redirect(w, r, rd, http.StatusFound)
		return
	}
	if jsonClient(r.Header) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "signed out"})
		return
	}
	s.renderPortal(w, r, http.StatusOK, portalView{Message: "You have been signed out."})
}

// endSessions deletes the session id, or with all every session of its user.
// A session issued for another cookie domain is left alone: its cookie was
// copied here, and its holder is not signed in on this domain, so it may
// neither end that session nor sign its user out everywhere.
func (s *Server) endSessions(r *http.Request, site *site, id string, all bool) error {
	ctx := r.Context()
	sess, err := s.opts.Sessions.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if sess.Domain != site.domain {
		return nil
	}
	if !all {
		return s.opts.Sessions.Delete(ctx, id)
	}
	n, err := s.opts.Sessions.DeleteUser(ctx, sess.Owner())
	if err == nil {
		logFrom(r).Info().Str("user", sess.User).Int("sessions", n).Msg("signed out everywhere")
	}
	return err
}

// sessionInfo is the body of GET /api/session.
type sessionInfo struct {
	User       string    `json:"user"`
	Name       string    `json:"name"`
	Email      string    `json:"email"`
	Groups     []string  `json:"groups"`
	ExpiresAt  time.Time `json:"expires_at"`
	RememberMe bool      `json:"remember_me"`
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	sess, user, err := s.currentUser(r, stateFrom(r.Context()))
	if err != nil {
		s.refuse(w, r, true, http.StatusServiceUnavailable, "session store unavailable", portalView{})
		return
	}
	if sess == nil {
		s.refuse(w, r, true, http.StatusUnauthorized, "not authenticated", portalView{})
		return
	}
	groups := user.Groups
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, http.StatusOK, sessionInfo{
		User:       user.Name,
		Name:       user.DisplayName,
		Email:      user.Email,
		Groups:     groups,
		ExpiresAt:  sess.Deadline().UTC().Truncate(time.Second),
		RememberMe: sess.RememberMe,
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
