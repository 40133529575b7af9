package http

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"gate/internal/users"
)

// TokenDirectory authenticates API tokens (users.File).
type TokenDirectory interface {
	AuthenticateToken(token string, now time.Time) (users.User, error)
}

// CredentialCache remembers verified Basic credentials under keys named by
// credcache.Key (credcache.Memory, credcache.Redis).
type CredentialCache interface {
	Verified(ctx context.Context, key string) (bool, error)
	Remember(ctx context.Context, key string, ttl time.Duration) error
}

// maxCredentialHeader bounds an Authorization value gate decodes: a
// Basic credential of a sane user name and password is far shorter, and
// a 10 KB header is refused without decoding it.
const maxCredentialHeader = 1024

// credential is what the original request's headers offer.
type credential struct {
	// scheme is "Basic" or "Bearer"; empty when the request offers no
	// credential of gate's.
	scheme         string
	user, password string // Basic
	token          string // Bearer
	// malformed is the short reason a credential of gate's could not be
	// read; the answer is 401 and nothing is counted or checked.
	malformed string
}

// machineOutcome is how a credential check ended.
type machineOutcome int

const (
	machineNone     machineOutcome = iota // no credential of gate's: go on as anonymous
	machineUser                           // authenticated
	machineAnswered                       // the client has its answer (401, 429, 503)
)

// readCredential finds a credential of gate's in h: Authorization, or for
// Basic also Proxy-Authorization. Other schemes, and bearer values
// without the gate_ prefix, are the application's own and are ignored. A
// header sent twice is refused rather than one of them picked, as a proxy
// and gate could pick differently.
func (s *Server) readCredential(h http.Header) credential {
	hb := s.opts.Header
	for _, name := range [...]string{"Authorization", "Proxy-Authorization"} {
		vals := h.Values(name)
		if len(vals) == 0 {
			continue
		}
		scheme, rest, _ := strings.Cut(vals[0], " ")
		switch {
		case hb.Basic && strings.EqualFold(scheme, "Basic"):
			if len(vals) > 1 {
				return credential{scheme: "Basic", malformed: name + " sent twice"}
			}
			return parseBasic(rest)
		case hb.Tokens && name == "Authorization" && strings.EqualFold(scheme, "Bearer") &&
			strings.HasPrefix(strings.TrimSpace(rest), users.TokenPrefix):
			if len(vals) > 1 {
				return credential{scheme: "Bearer", malformed: name + " sent twice"}
			}
			return credential{scheme: "Bearer", token: strings.TrimSpace(rest)}
		}
	}
	return credential{}
}

// parseBasic decodes the credentials of a Basic header (RFC 7617).
func parseBasic(v string) credential {
	c := credential{scheme: "Basic"}
	v = strings.TrimSpace(v)
	if len(v) > maxCredentialHeader {
		c.malformed = "Basic credentials too long"
		return c
	}
	// Decoded on the stack, then copied once into the string that user
	// and password share.
	var buf [maxCredentialHeader]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(v))
	if err != nil {
		c.malformed = "Basic credentials are not base64"
		return c
	}
	user, pw, ok := strings.Cut(string(buf[:n]), ":")
	switch {
	case !ok:
		c.malformed = "Basic credentials have no colon"
	case user == "":
		c.malformed = "Basic credentials have no user name"
	case hasCtl(user) || hasCtl(pw):
		c.malformed = "Basic credentials hold control characters"
	default:
		c.user, c.password = user, pw
	}
	return c
}

func hasCtl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

// machineAuth authenticates the request with the credential its headers
// carry, when it has one of gate's. It answers the client itself for a
// wrong, malformed or banned credential and for store failures.
func (s *Server) machineAuth(w http.ResponseWriter, r *http.Request, st *requestState, d *dialect, client netip.Addr, now time.Time) (users.User, machineOutcome, int) {
	c := s.readCredential(r.Header)
	switch {
	case c.scheme == "":
		return users.User{}, machineNone, 0
	case c.malformed != "":
		s.credentialCount("malformed")
		return users.User{}, machineAnswered, s.challenge(w, st, c.scheme, c.malformed)
	case c.scheme == "Bearer":
		return s.tokenAuth(w, r, st, d, c.token, client, now)
	}
	return s.basicAuth(w, r, st, d, c, client)
}

// tokenAuth checks an API token: one SHA-256 and a map lookup. A right
// token is admitted without touching the regulation counters, which keeps
// a Redis write off every token request: a ban guards against guessing,
// and a token of 256 random bits cannot be guessed. A wrong one counts as
// a failure of its client alone (a token names no user), so a client
// guessing tokens is banned like one guessing passwords, and a banned
// client's wrong tokens are answered as the ban.
func (s *Server) tokenAuth(w http.ResponseWriter, r *http.Request, st *requestState, d *dialect, token string, client netip.Addr, now time.Time) (users.User, machineOutcome, int) {
	if s.opts.Tokens == nil {
		return users.User{}, machineNone, 0
	}
	u, err := s.opts.Tokens.AuthenticateToken(token, now)
	switch {
	case err == nil:
		s.credentialCount("token")
		return u, machineUser, 0
	case errors.Is(err, users.ErrTokenShape):
		// Malformed: answered, and nothing is counted.
		s.credentialCount("malformed")
		return users.User{}, machineAnswered, s.challenge(w, st, "Bearer", "malformed token")
	}
	ctx := r.Context()
	attempt, wait, err := s.opts.Regulator.BeginClient(ctx, client)
	if err != nil {
		s.storeError(st, "regulation", err)
		return users.User{}, machineAnswered, writeText(w, http.StatusServiceUnavailable, "credential store unavailable")
	}
	if attempt == nil {
		s.credentialCount("banned")
		setRetryAfter(w, wait)
		return users.User{}, machineAnswered, writeText(w, d.tooManyStatus, "too many failed attempts, try again later")
	}
	if err := attempt.Fail(ctx); err != nil {
		s.storeError(st, "regulation", err)
	}
	s.credentialCount("invalid")
	st.logger().Info().Str("client", client.String()).Msg("token refused")
	return users.User{}, machineAnswered, s.challenge(w, st, "Bearer", "invalid token")
}

// basicResult is what one password check of a Basic credential found; the
// callers sharing the check (single flight) all answer from it.
type basicResult struct {
	user users.User
	// code is the answer when the check did not authenticate: 401, 429,
	// 503; retry is the Retry-After of a 429 or a busy 503.
	code  int
	retry time.Duration
	msg   string
}

// basicAuth authenticates a Basic credential: from the cache when it was
// verified within header.cache against the user's current password hash,
// else by one regulated password check shared by every concurrent request
// with the same credential.
func (s *Server) basicAuth(w http.ResponseWriter, r *http.Request, st *requestState, d *dialect, c credential, client netip.Addr) (users.User, machineOutcome, int) {
	ctx := r.Context()
	var key string
	if u, ok := s.opts.Users.Lookup(c.user); ok && s.opts.Credentials != nil {
		// The stamp changes with the password hash: a new password, like
		// a disabled or removed user (Lookup fails), misses at once.
		key = s.credNames.Name(c.user, c.password, u.Stamp)
		hit, err := s.opts.Credentials.Verified(ctx, key)
		if err != nil {
			s.storeError(st, "credential_cache", err)
			return users.User{}, machineAnswered, writeText(w, http.StatusServiceUnavailable, "credential store unavailable")
		}
		if hit {
			s.credentialCount("cache_hit")
			return u, machineUser, 0
		}
	}
	// The flight key is the cache key when there is one; otherwise an
	// HMAC all the same, so that no password sits in the group's map.
	flight := key
	if flight == "" {
		flight = s.credNames.Name(c.user, c.password, "")
	}
	res, _, err := s.basicChecks.Do(ctx, flight, func() (basicResult, error) {
		return s.checkBasic(context.WithoutCancel(ctx), st, c, client, key), nil
	})
	if err != nil { // this request's client went away while waiting
		return users.User{}, machineAnswered, writeText(w, http.StatusServiceUnavailable, "request abandoned")
	}
	switch res.code {
	case 0:
		return res.user, machineUser, 0
	case http.StatusUnauthorized:
		return users.User{}, machineAnswered, s.challenge(w, st, "Basic", res.msg)
	}
	if res.retry > 0 {
		setRetryAfter(w, res.retry)
	}
	code := res.code
	if code == http.StatusTooManyRequests {
		code = d.tooManyStatus
	}
	return users.User{}, machineAnswered, writeText(w, code, res.msg)
}

// checkBasic runs one regulated password check, as a login does: counted
// before the check, a failure towards a ban, a right password remembered
// in the cache (a wrong one never is).
func (s *Server) checkBasic(ctx context.Context, st *requestState, c credential, client netip.Addr, key string) basicResult {
	attempt, wait, err := s.opts.Regulator.Begin(ctx, c.user, client)
	if err != nil {
		s.storeError(st, "regulation", err)
		return basicResult{code: http.StatusServiceUnavailable, msg: "credential store unavailable"}
	}
	if attempt == nil {
		s.credentialCount("banned")
		return basicResult{code: http.StatusTooManyRequests, retry: wait, msg: "too many failed attempts, try again later"}
	}
	u, err := s.opts.Users.Authenticate(ctx, c.user, c.password)
	switch {
	case err == nil:
		if err := attempt.Succeed(ctx); err != nil {
			s.storeError(st, "regulation", err)
		}
		s.credentialCount("verified")
		if key != "" && s.opts.Header.Cache > 0 {
			if err := s.opts.Credentials.Remember(ctx, key, s.opts.Header.Cache); err != nil {
				// The request is authenticated; only the next one pays
				// another check.
				s.storeError(st, "credential_cache", err)
			}
		}
		return basicResult{user: u}
	case errors.Is(err, users.ErrInvalidCredentials):
		if err := attempt.Fail(ctx); err != nil {
			s.storeError(st, "regulation", err)
		}
		s.credentialCount("invalid")
		st.logger().Info().Str("client", client.String()).Msg("basic credentials refused")
		return basicResult{code: http.StatusUnauthorized, msg: "invalid credentials"}
	}
	if err := attempt.Abandon(ctx); err != nil {
		s.storeError(st, "regulation", err)
	}
	if errors.Is(err, users.ErrBusy) {
		s.credentialCount("busy")
		return basicResult{code: http.StatusServiceUnavailable, retry: busyRetryAfter, msg: "too many password checks at once, try again shortly"}
	}
	st.logger().Error().Err(err).Msg("password check failed")
	s.credentialCount("error")
	return basicResult{code: http.StatusServiceUnavailable, msg: "password check unavailable"}
}

// challenge answers 401 with WWW-Authenticate for scheme, naming the
// portal host of the request's cookie domain (the first domain's for a
// host under none) as the realm.
func (s *Server) challenge(w http.ResponseWriter, st *requestState, scheme, msg string) int {
	site := st.site
	if site == nil {
		site = s.sites[0]
	}
	w.Header().Set("WWW-Authenticate", scheme+` realm="`+site.realm+`"`)
	return writeText(w, http.StatusUnauthorized, msg)
}

func (s *Server) credentialCount(result string) {
	if m := s.opts.Metrics; m != nil {
		m.credentials.WithLabelValues(result).Inc()
	}
}
