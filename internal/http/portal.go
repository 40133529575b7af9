package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
}

// renderPortal writes the portal page. The CSP's form-action admits, besides
// ourselves, exactly the origins a login or logout from this page may
// redirect to: browsers check form-action on the redirect after a POST.
func (s *Server) renderPortal(w http.ResponseWriter, r *http.Request, code int, v portalView) {
	v.Base = s.base
	v.RememberMe = s.opts.RememberMe > 0
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "portal", v); err != nil {
		logFrom(r).Error().Err(err).Msg("render portal")
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	origins := []string{"'self'"}
	for _, u := range []string{v.RD, s.defaultRD} {
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
	rd, _ := s.redirects.safe(r.URL.Query().Get("rd"))
	sess, user, err := s.currentUser(r, stateFrom(r.Context()))
	if err != nil {
		s.renderPortal(w, r, http.StatusServiceUnavailable, portalView{Error: "Sign-in is unavailable right now. Please try again shortly.", RD: rd})
		return
	}
	if sess != nil {
		// Already signed in: carry on to where the proxy sent us from.
		if rd != "" {
			http.Redirect(w, r, rd, http.StatusFound)
			return
		}
		s.renderPortal(w, r, http.StatusOK, portalView{User: &user, Continue: s.defaultRD})
		return
	}
	s.renderPortal(w, r, http.StatusOK, portalView{RD: rd})
}

// loginRequest is a login from the form or from JSON.
type loginRequest struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	RememberMe bool   `json:"remember_me"`
	RD         string `json:"rd"`
}

func readLogin(r *http.Request) (loginRequest, bool, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var req loginRequest
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&req); err != nil {
			return req, true, errors.New("invalid JSON body")
		}
		if _, err := dec.Token(); err != io.EOF {
			return req, true, errors.New("invalid JSON body")
		}
		return req, true, nil
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return loginRequest{}, false, errors.New("invalid form body")
		}
		f := r.PostForm
		return loginRequest{
			Username:   f.Get("username"),
			Password:   f.Get("password"),
			RememberMe: f.Get("remember_me") == "on" || f.Get("remember_me") == "true",
			RD:         f.Get("rd"),
		}, false, nil
	default:
		return loginRequest{}, jsonClient(r.Header), errors.New("unsupported content type")
	}
}

// maxCredential bounds usernames and passwords; argon2 over a megabyte
// password would be a cheap way to burn our CPU.
const maxCredential = 1024

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
	ctx := r.Context()
	st := stateFrom(ctx)
	client := clientAddr(r, s.trusted, hForwardedFor, hRealIP)
	log := st.logger().With().Str("client", client.String()).Logger()

	wait, err := s.opts.Regulator.Check(ctx, req.Username, client)
	if err != nil {
		s.storeError(st, "regulation", err)
		s.loginCount("error")
		s.loginFailed(w, r, isJSON, http.StatusServiceUnavailable, "sign-in is unavailable right now", req)
		return
	}
	if wait > 0 {
		s.loginCount("banned")
		log.Warn().Msg("login refused: too many failed attempts")
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		s.loginFailed(w, r, isJSON, http.StatusTooManyRequests, "too many failed attempts, try again later", req)
		return
	}

	user, err := s.opts.Users.Authenticate(ctx, req.Username, req.Password)
	if err != nil {
		if ferr := s.opts.Regulator.Fail(ctx, req.Username, client); ferr != nil {
			s.storeError(st, "regulation", ferr)
		}
		s.loginCount("failure")
		log.Info().Msg("login failed")
		s.loginFailed(w, r, isJSON, http.StatusUnauthorized, "invalid credentials", req)
		return
	}
	if err := s.opts.Regulator.Succeed(ctx, user.Name); err != nil {
		s.storeError(st, "regulation", err)
	}

	// A session the client still presents ends here: a cookie planted by
	// someone else must never become this user's session.
	if id, err := s.opts.Cookies.Read(r); err == nil {
		if err := s.opts.Sessions.Delete(ctx, id); err != nil {
			s.storeError(st, "delete", err)
		}
	}
	sess, maxAge, err := s.newSession(user, req.RememberMe)
	if err == nil {
		err = s.opts.Sessions.Create(ctx, sess)
	}
	if err != nil {
		s.storeError(st, "create", err)
		s.loginCount("error")
		s.loginFailed(w, r, isJSON, http.StatusServiceUnavailable, "sign-in is unavailable right now", req)
		return
	}
	if err := s.opts.Cookies.Write(w, sess.ID, maxAge); err != nil {
		st.logger().Error().Err(err).Msg("write session cookie")
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	s.loginCount("success")
	log.Info().Str("user", user.Name).Bool("remember_me", sess.RememberMe).Msg("login succeeded")

	dest, ok := s.redirects.safe(req.RD)
	if !ok {
		dest = s.defaultRD
	}
	if isJSON {
		writeJSON(w, http.StatusOK, map[string]string{"user": user.Name, "redirect": dest})
		return
	}
	if dest == "" {
		dest = s.base + "/"
	}
	http.Redirect(w, r, dest, http.StatusFound)
}

// newSession builds the record for a fresh login; maxAge is the cookie's
// lifetime, 0 for a browser-session cookie.
func (s *Server) newSession(u users.User, rememberMe bool) (*session.Session, time.Duration, error) {
	id, err := s.opts.Sessions.NewID(u.Name)
	if err != nil {
		return nil, 0, err
	}
	now := s.now()
	sess := &session.Session{
		ID:           id,
		User:         u.Name,
		DisplayName:  u.DisplayName,
		Email:        u.Email,
		Groups:       u.Groups,
		Stamp:        u.Stamp,
		CreatedAt:    now,
		LastActivity: now,
	}
	if rememberMe && s.opts.RememberMe > 0 {
		sess.RememberMe = true
		sess.ExpiresAt = now.Add(s.opts.RememberMe)
		return sess, s.opts.RememberMe, nil
	}
	sess.ExpiresAt = now.Add(s.opts.Expiration)
	sess.Inactivity = s.opts.Inactivity
	return sess, 0, nil
}

// loginFailed answers a refused login without saying which part was wrong.
func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, isJSON bool, code int, msg string, req loginRequest) {
	if isJSON {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	rd, _ := s.redirects.safe(req.RD)
	s.renderPortal(w, r, code, portalView{Error: capitalize(msg) + ".", RD: rd, Username: req.Username})
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.opts.Cookies.Clear(w)
	if id, err := s.opts.Cookies.Read(r); err == nil {
		err := s.endSessions(r, id, r.URL.Query().Get("all") == "true")
		if err != nil {
			s.storeError(stateFrom(r.Context()), "logout", err)
			if jsonClient(r.Header) {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "session store unavailable"})
			} else {
				s.renderPortal(w, r, http.StatusServiceUnavailable, portalView{Error: "Signing out failed on the server. Please try again."})
			}
			return
		}
	}
	if rd, ok := s.redirects.safe(r.URL.Query().Get("rd")); ok {
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
func (s *Server) endSessions(r *http.Request, id string, all bool) error {
	ctx := r.Context()
	if !all {
		return s.opts.Sessions.Delete(ctx, id)
	}
	sess, err := s.opts.Sessions.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	n, err := s.opts.Sessions.DeleteUser(ctx, sess.User)
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
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "session store unavailable"})
		return
	}
	if sess == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not authenticated"})
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
