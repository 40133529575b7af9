package cookie

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"gate/internal/config"
)

// Sentinel errors callers branch on. Both mean "not authenticated".
var (
	// ErrNoCookie: the request carries no cookie with the configured name.
	ErrNoCookie = errors.New("cookie: no session cookie")
	// ErrInvalid: cookies with the configured name are present but none
	// decodes: tampered, signed with another secret, truncated, garbage,
	// oversize or empty.
	ErrInvalid = errors.New("cookie: invalid session cookie")
)

const (
	// maxValueLen rejects a value before any decoding work: ours are under
	// 200 bytes, and 4096 is the most browsers store per cookie.
	maxValueLen = 4096
	// maxCandidates bounds the HMACs one request can cost. Duplicates are
	// normal (a stale host-only cookie beside the domain one, or a cookie
	// tossed from a sibling subdomain), but a header stuffed with thousands
	// of copies must not buy thousands of verifications.
	maxCandidates = 8
)

// Config describes the session cookie.
type Config struct {
	// Name is the cookie name; it is also bound into the signature, so a
	// value lifted from another cookie does not verify under this one.
	Name string
	// HashKey signs the value (HMAC-SHA256): 32 or 64 bytes.
	HashKey []byte
	// BlockKey encrypts the value (AES): 16, 24 or 32 bytes.
	BlockKey []byte
	// Domain is session.domain, so every protected subdomain receives the
	// cookie; empty makes a host-only cookie.
	Domain string
	// Secure restricts the cookie to https.
	Secure bool
	// SameSite is sent as configured; zero means Lax, and
	// http.SameSiteDefaultMode omits the attribute.
	SameSite http.SameSite
}

// Codec reads and writes the session cookie. It is safe for concurrent use.
type Codec struct {
	name     string
	domain   string
	secure   bool
	sameSite http.SameSite
	// sc is configured once in New: its AES cipher is built there, not per
	// request.
	sc *securecookie.SecureCookie
	// verified skips the decode for values seen before.
	verified *verifiedCache
}

// New checks cfg and returns a codec. Keys of the wrong size are refused
// rather than padded or truncated, since a short key silently weakens every
// cookie.
func New(cfg Config) (*Codec, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	sameSite := cfg.SameSite
	if sameSite == 0 {
		sameSite = http.SameSiteLaxMode
	}
	sc := securecookie.New(slices.Clone(cfg.HashKey), slices.Clone(cfg.BlockKey)).
		// The value is the id's bytes; gob would only add size and a
		// decoder an attacker can feed.
		SetSerializer(securecookie.NopEncoder{}).
		// The store decides when a session ends. securecookie's own 30-day
		// limit would cut remember-me sessions configured longer.
		MaxAge(0).
		MaxLength(maxValueLen)
	// securecookie reports setup errors only from Encode; find out now.
	if _, err := sc.Encode(cfg.Name, []byte("probe")); err != nil {
		return nil, fmt.Errorf("cookie: %w", err)
	}
	return &Codec{
		name:     cfg.Name,
		domain:   cfg.Domain,
		secure:   cfg.Secure,
		sameSite: sameSite,
		sc:       sc,
		verified: newVerifiedCache(),
	}, nil
}

// validate checks the keys and SameSite mode here, and the name, domain
// and SameSite rules browsers apply with config's one check of them
// (config.SessionCookie.Check), whose errors name the session.* key.
func validate(cfg Config) error {
	if n := len(cfg.HashKey); n != 32 && n != 64 {
		return fmt.Errorf("cookie: hash key must be 32 or 64 bytes, got %d", n)
	}
	if n := len(cfg.BlockKey); n != 16 && n != 24 && n != 32 {
		return fmt.Errorf("cookie: block key must be 16, 24 or 32 bytes, got %d", n)
	}
	if cfg.SameSite < 0 || cfg.SameSite > http.SameSiteNoneMode {
		return fmt.Errorf("cookie: unknown SameSite mode %d", cfg.SameSite)
	}
	// http.SetCookie drops an invalid cookie with only a log line, and
	// browsers drop one that breaks the prefix or SameSite rules: a login
	// that silently sets no cookie is far harder to diagnose than this.
	return config.SessionCookie{
		Name:         cfg.Name,
		Domain:       cfg.Domain,
		Secure:       cfg.Secure,
		SameSiteNone: cfg.SameSite == http.SameSiteNoneMode,
	}.Check()
}

// Name returns the cookie name.
func (c *Codec) Name() string { return c.name }

// SameSite returns the cookie's SameSite mode.
func (c *Codec) SameSite() http.SameSite { return c.sameSite }

// Read returns the session id the request's cookie carries: ErrNoCookie
// when there is no cookie of that name, ErrInvalid when none of them
// decodes.
//
// Several cookies of the same name are tried in order and the first that
// decodes wins, so a garbage cookie tossed in from a sibling subdomain (or
// a stale duplicate) cannot lock a user out by shadowing the real one.
// Only a value this codec produced decodes; a tossed cookie that does is an
// attacker's own session, which the caller checks like any other.
func (c *Codec) Read(r *http.Request) (string, error) {
	seen := 0
	// Scanning the raw header, rather than r.Cookies, builds no *Cookie
	// for every unrelated cookie on every proxied request.
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, value, ok := strings.Cut(part, "=")
			if !ok || textproto.TrimString(name) != c.name {
				continue
			}
			if seen++; seen > maxCandidates {
				return "", ErrInvalid
			}
			if id, ok := c.decode(unquote(textproto.TrimString(value))); ok {
				return id, nil
			}
		}
	}
	if seen > 0 {
		return "", ErrInvalid
	}
	return "", ErrNoCookie
}

// unquote strips the double quotes RFC 6265 allows around a value, as
// net/http does.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func (c *Codec) decode(value string) (string, bool) {
	if value == "" || len(value) > maxValueLen {
		return "", false
	}
	if id, ok := c.verified.get(value); ok {
		return id, true
	}
	if !isBase64URL(value) {
		return "", false
	}
	var raw []byte
	if err := c.sc.Decode(c.name, value, &raw); err != nil || len(raw) == 0 {
		return "", false
	}
	id := string(raw)
	// value is a slice of the whole Cookie header; a copy keeps the map
	// from pinning every header it saw.
	c.verified.add(strings.Clone(value), id)
	return id, true
}

// isBase64URL reports whether v holds only what Write produces. Go's base64
// decoder skips CR and LF, so without this check values other than ours
// would decode to the same bytes.
func isBase64URL(v string) bool {
	for i := 0; i < len(v); i++ {
		if !base64URL[v[i]] {
			return false
		}
	}
	return true
}

var base64URL = func() (t [256]bool) {
	for _, b := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=") {
		t[b] = true
	}
	return t
}()

// Write sets the session cookie for id. maxAge > 0 sets Max-Age and
// Expires (remember-me); otherwise the cookie lasts for the browser
// session.
func (c *Codec) Write(w http.ResponseWriter, id string, maxAge time.Duration) error {
	if id == "" {
		return errors.New("cookie: empty session id")
	}
	value, err := c.sc.Encode(c.name, []byte(id))
	if err != nil {
		return fmt.Errorf("cookie: encode: %w", err)
	}
	ck := c.cookie(value)
	if maxAge > 0 {
		// Round up: a sub-second lifetime must not become Max-Age=0, which
		// means "delete".
		secs := int((maxAge + time.Second - 1) / time.Second)
		ck.MaxAge = secs
		// Expires too, for clients that ignore Max-Age.
		ck.Expires = time.Now().Add(time.Duration(secs) * time.Second)
	}
	http.SetCookie(w, ck)
	return nil
}

// Clear tells the browser to drop the session cookie. The name, Domain and
// Path must match the cookie being deleted, so they come from the same
// place as Write's.
func (c *Codec) Clear(w http.ResponseWriter) {
	ck := c.cookie("")
	ck.MaxAge = -1
	http.SetCookie(w, ck)
}

// cookie is the one place the attributes are set. HttpOnly keeps the id
// away from scripts an XSS could run on any subdomain.
func (c *Codec) cookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     c.name,
		Value:    value,
		Domain:   c.domain,
		Path:     "/",
		HttpOnly: true,
		Secure:   c.secure,
		SameSite: c.sameSite,
	}
}
