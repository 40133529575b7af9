package http

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"gate/internal/oidc"
	"gate/internal/ratelimit"
)

// bindingCookie is the cookie that binds a provider sign-in to the
// browser that began it. Over https it carries the __Host- prefix: a
// sibling subdomain cannot plant it (cookie tossing), so an attacker
// cannot give the victim's browser the binding of the attacker's own
// sign-in (login CSRF).
const (
	bindingCookie       = "gate_oidc"
	secureBindingCookie = "__Host-gate_oidc"
)

// bindingName is the binding cookie's name on site.
func bindingName(site *site) string {
	if site.https {
		return secureBindingCookie
	}
	return bindingCookie
}

// redirectURI is the provider's callback on site's portal: each cookie
// domain's portal is its own redirect URI, to register at the provider.
func redirectURI(site *site, provider string) string {
	return site.root + "/api/oidc/" + provider + "/callback"
}

// providerOf is the provider the request's path names; nil, with a 404
// written, when there is none.
func (s *Server) providerOf(w http.ResponseWriter, r *http.Request) *oidc.Provider {
	p := s.providers[chi.URLParam(r, "provider")]
	if p == nil {
		writeText(w, http.StatusNotFound, "not found")
	}
	return p
}

func (s *Server) oidcCount(provider, result string) {
	if m := s.opts.Metrics; m != nil {
		m.oidcLogins.WithLabelValues(provider, result).Inc()
	}
}

// unavailableMsg is what a browser sees when a provider cannot be used.
const unavailableMsg = "sign-in through this provider is unavailable right now, please try again shortly"

// maxStartsPerMinute bounds the sign-ins one client address (IPv6 by its
// /64) may begin a minute, all at once if it likes: each start stores a
// flow record for oidc.StateTTL, and anyone may ask for one, so without a
// bound an anonymous client could fill the memory store (locking everyone
// out of providers) or grow Redis without end. A person clicking a button,
// a few failed tries, or an office behind one NAT address stay far below
// 30; at that rate one address holds at most 330 records at a time (30 at
// once, then 30 a minute for the records' 10 minutes).
const maxStartsPerMinute = 30

// startLimit is maxStartsPerMinute as the limiter takes it.
var startLimit = ratelimit.Limit{Requests: maxStartsPerMinute, Period: time.Minute}

// startCounterRule names the start counters among the rate-limit
// counters: access rules have indexes from 0, so no rule's counter is a
// start counter.
const startCounterRule = -1

// tooManyStarts counts one start of the request's client and, over
// startLimit or when the counters cannot be reached, answers it and
// reports true: 429 with Retry-After, or 503 (fail closed: one Redis
// outage must not lift the bound).
func (s *Server) tooManyStarts(w http.ResponseWriter, r *http.Request, st *requestState, provider, rd string) bool {
	client := clientAddr(r, s.trusted, hForwardedFor, hRealIP)
	key := s.limitNames.Name(startCounterRule, ratelimit.ByClient, ratelimit.ClientKey(client))
	res, err := s.limiter.Allow(r.Context(), key, startLimit)
	if err != nil {
		s.oidcCount(provider, "error")
		s.storeError(st, "oidc start limit", err)
		s.refuse(w, r, false, http.StatusServiceUnavailable, unavailableMsg, portalView{RD: rd})
		return true
	}
	if res.Allowed {
		return false
	}
	s.oidcCount(provider, "rate_limited")
	// Debug, not warn: a flood of starts must not become a flood of log
	// lines; the metric counts them.
	st.logger().Debug().Str("provider", provider).Str("client", client.String()).Msg("oidc sign-in start refused: too many starts from the client")
	// Never "0": a client told to retry at once would.
	setRetryAfter(w, max(res.RetryAfter, time.Second))
	s.refuse(w, r, false, http.StatusTooManyRequests, "too many sign-ins begun from your address, please try again later", portalView{RD: rd})
	return true
}

// handleOIDCStart begins a sign-in through a provider: GET
// /api/oidc/<id>/start?rd=…. rd is validated for the request's cookie
// domain, exactly as a password login's; the browser is bound to the
// sign-in by a short-lived cookie and sent to the provider.
func (s *Server) handleOIDCStart(w http.ResponseWriter, r *http.Request) {
	p := s.providerOf(w, r)
	if p == nil {
		return
	}
	site := siteOf(r)
	st := stateFrom(r.Context())
	log := st.logger().With().Str("provider", p.ID()).Logger()
	rd, _ := site.redirects.safe(r.URL.Query().Get("rd"))
	// Before discovery a start stores nothing, and is not counted: a
	// browser retrying while the provider comes up is not held back.
	if !p.Ready() {
		s.startUnavailable(w, r, log, p.ID(), rd, oidc.ErrNotReady)
		return
	}
	if s.tooManyStarts(w, r, st, p.ID(), rd) {
		return
	}
	browser := s.binding(r, site)
	if browser == "" {
		var err error
		if browser, err = oidc.NewBrowserBinding(); err != nil {
			log.Error().Err(err).Msg("oidc start: binding")
			writeText(w, http.StatusInternalServerError, "internal error")
			return
		}
	}
	authURL, err := p.Start(r.Context(), redirectURI(site, p.ID()), rd, browser)
	switch {
	case errors.Is(err, oidc.ErrNotReady), errors.Is(err, oidc.ErrStateFull):
		s.startUnavailable(w, r, log, p.ID(), rd, err)
		return
	case err != nil:
		s.oidcCount(p.ID(), "error")
		s.storeError(st, "oidc state", err)
		s.refuse(w, r, false, http.StatusServiceUnavailable, unavailableMsg, portalView{RD: rd})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: bindingName(site), Value: browser, Path: "/", MaxAge: int(oidc.StateTTL / time.Second),
		HttpOnly: true, Secure: site.https, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, authURL, http.StatusFound)
}

// startUnavailable answers a start the provider or the state store
// cannot take now (err says which): 503 and the portal's page.
func (s *Server) startUnavailable(w http.ResponseWriter, r *http.Request, log zerolog.Logger, provider, rd string, err error) {
	s.oidcCount(provider, "unavailable")
	log.Warn().Err(err).Msg("oidc sign-in refused: provider unavailable")
	s.refuse(w, r, false, http.StatusServiceUnavailable, unavailableMsg, portalView{RD: rd})
}

// binding is the browser's binding cookie, "" when it has none that could
// be ours. Only the cookie of the site's name is read.
func (s *Server) binding(r *http.Request, site *site) string {
	c, err := r.Cookie(bindingName(site))
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	return c.Value
}

// handleOIDCCallback completes a sign-in: GET /api/oidc/<id>/callback. A
// refusal shows the portal with a generic message; the log says why,
// without tokens or codes.
func (s *Server) handleOIDCCallback(w http.ResponseWriter, r *http.Request) {
	p := s.providerOf(w, r)
	if p == nil {
		return
	}
	site := siteOf(r)
	st := stateFrom(r.Context())
	log := st.logger().With().Str("provider", p.ID()).Str("client", clientAddr(r, s.trusted, hForwardedFor, hRealIP).String()).Logger()
	res, err := p.Finish(r.Context(), r.URL.Query(), redirectURI(site, p.ID()), s.binding(r, site))
	if err != nil {
		code, result, msg := callbackFailure(err)
		s.oidcCount(p.ID(), result)
		if result == "error" {
			s.storeError(st, "oidc state", err)
		} else {
			log.Warn().Str("reason", err.Error()).Str("result", result).Msg("oidc sign-in refused")
		}
		s.refuse(w, r, false, code, msg, portalView{})
		return
	}
	from := &providerLogin{provider: p.ID(), subject: res.Subject, sid: res.SID}
	if _, err := s.startSession(w, r, site, res.User, false, from); err != nil {
		s.oidcCount(p.ID(), "error")
		if errors.Is(err, errCookie) {
			writeText(w, http.StatusInternalServerError, "internal error")
			return
		}
		s.refuse(w, r, false, http.StatusServiceUnavailable, "sign-in is unavailable right now", portalView{})
		return
	}
	s.oidcCount(p.ID(), "success")
	log.Info().Str("user", res.User.Name).Bool("linked", res.Linked).Msg("oidc sign-in succeeded")
	dest := res.RD
	if dest == "" {
		dest = site.defaultRD
	}
	if dest == "" {
		dest = site.base + "/"
	}
	if site.Cookies.SameSite() == http.SameSiteStrictMode {
		// The callback is the end of a navigation the provider began, a
		// cross-site one: browsers would not send a SameSite=Strict
		// cookie along a redirect from here, and the app would send the
		// user back to sign in. A page of ours that moves on starts a
		// same-site navigation, which carries it.
		s.renderPortal(w, r, http.StatusOK, portalView{User: &res.User, Continue: dest, Refresh: dest})
		return
	}
	http.Redirect(w, r, dest, http.StatusFound)
}

// callbackFailure maps a failed sign-in to its status, metric result and
// the generic message the browser sees.
func callbackFailure(err error) (code int, result, msg string) {
	const failed = "sign-in failed, please try again"
	switch {
	case errors.Is(err, oidc.ErrBadState):
		return http.StatusBadRequest, "bad_state", failed
	case errors.Is(err, oidc.ErrRefused):
		return http.StatusForbidden, "refused", "sign-in was refused"
	case errors.Is(err, oidc.ErrProvider):
		return http.StatusBadGateway, "provider_error", failed
	case errors.Is(err, oidc.ErrNotReady):
		return http.StatusServiceUnavailable, "unavailable", unavailableMsg
	}
	return http.StatusServiceUnavailable, "error", "sign-in is unavailable right now"
}

// handleOIDCLogout is the provider's back-channel logout: POST
// /api/oidc/<id>/backchannel-logout with logout_token in a form body. It
// ends every gate session of the token's subject (or of its sid) in the
// store, so on every instance sharing it. 200 on success, 400 with a short
// reason for a bad request or token (Back-Channel Logout 1.0, 2.8).
func (s *Server) handleOIDCLogout(w http.ResponseWriter, r *http.Request) {
	p := s.providerOf(w, r)
	if p == nil {
		return
	}
	st := stateFrom(r.Context())
	log := st.logger().With().Str("provider", p.ID()).Logger()
	token, err := readLogoutToken(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	subject, sid, err := p.Logout(r.Context(), token)
	switch {
	case errors.Is(err, oidc.ErrNotReady):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	case err != nil:
		log.Warn().Str("reason", err.Error()).Msg("back-channel logout refused")
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "invalid logout token"})
		return
	}
	n, err := s.opts.Sessions.DeleteProvider(r.Context(), p.ID(), subject, sid)
	if err != nil {
		s.storeError(st, "oidc logout", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	log.Info().Int("sessions", n).Bool("by_sid", sid != "").Msg("back-channel logout")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// readLogoutToken reads the one logout_token of a form body.
func readLogoutToken(r *http.Request) (string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return "", errors.New("want a form body")
	}
	if err := r.ParseForm(); err != nil {
		return "", errors.New("invalid form body")
	}
	v := r.PostForm["logout_token"]
	if len(v) != 1 || v[0] == "" {
		return "", errors.New("want exactly one logout_token")
	}
	return v[0], nil
}

// providerButtons are the portal's sign-in buttons for site, each
// carrying rd (already validated) to its start.
func (s *Server) providerButtons(site *site, rd string) []providerButton {
	out := make([]providerButton, 0, len(s.opts.OIDC))
	for _, p := range s.opts.OIDC {
		out = append(out, providerButton{
			ID:   p.ID(),
			Name: p.Name(),
			Href: site.root + "/api/oidc/" + p.ID() + "/start?rd=" + url.QueryEscape(rd),
		})
	}
	return out
}

// providerButton is one provider's button on the portal.
type providerButton struct {
	ID, Name, Href string
}
