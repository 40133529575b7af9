package http

import (
	"net/url"
	"strings"

	"gate/internal/config"
)

// redirectPolicy decides where a browser may be sent after login or logout.
// Open redirects turn a trusted login page into a phishing relay, so only
// absolute http(s) URLs on the session domain pass.
type redirectPolicy struct {
	// domain is session.domain, as config.ParseDomain returns it.
	domain string
	// httpsOnly is set when the portal itself is served over https: a
	// downgrade would expose the next request.
	httpsOnly bool
}

// maxRedirectLen bounds the rd we carry through the login.
const maxRedirectLen = 4096

// safe returns the normalized target when raw may be redirected to.
func (p redirectPolicy) safe(raw string) (string, bool) {
	if raw == "" || len(raw) > maxRedirectLen {
		return "", false
	}
	// Browsers read '\' as '/', and control characters are stripped before
	// parsing: "https:\\evil.com" or "ht\ttps://" must not slip through.
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c == '\\' || c < 0x20 || c == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if p.httpsOnly {
			return "", false
		}
	default:
		return "", false
	}
	host, err := cleanHost(u.Host)
	if err != nil {
		return "", false
	}
	if !config.WithinDomain(hostname(host), p.domain) {
		return "", false
	}
	// Re-encoding can triple the length (raw non-ASCII bytes become %XX):
	// bound what we send, not only what we read.
	out := u.String()
	if len(out) > maxRedirectLen {
		return "", false
	}
	return out, true
}

// hostname drops the port of a host cleanHost accepted.
func hostname(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		return host[:i]
	}
	return host
}
