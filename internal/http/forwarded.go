package http

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"gate/internal/access"
	"gate/internal/config"
)

// target is the original request a proxy asks about.
type target struct {
	Method string
	Scheme string
	// Host is lower-case, without a trailing dot; it keeps a port if one was sent.
	Host string
	// URI is the raw request-target: path and query as the client sent them.
	URI string
}

// URL is the absolute URL of the original request.
func (t target) URL() string { return t.Scheme + "://" + t.Host + t.URI }

// errBadForwarding marks a request whose forwarding headers cannot describe a
// request; it answers 400.
var errBadForwarding = errors.New("bad forwarding headers")

// Forwarding headers, in canonical form: the hot path indexes the header map
// directly instead of canonicalising the name on every lookup.
const (
	hForwardedMethod = "X-Forwarded-Method"
	hForwardedProto  = "X-Forwarded-Proto"
	hForwardedHost   = "X-Forwarded-Host"
	hForwardedURI    = "X-Forwarded-Uri"
	hForwardedFor    = "X-Forwarded-For"
	hRealIP          = "X-Real-Ip"
	hOriginalURL     = "X-Original-Url"
	hOriginalMethod  = "X-Original-Method"
)

// only returns the one value of a required forwarding header, in canonical
// form. A missing or empty header, or one sent more than once, is refused:
// a proxy that appends rather than replaces would otherwise let a client's
// own copy decide the target, and a default (GET, "/") would judge another
// request than the one the proxy forwards.
func only(h http.Header, canonical string) (string, error) {
	v := h[canonical]
	switch {
	case len(v) == 0 || v[0] == "":
		return "", fmt.Errorf("%w: missing %s", errBadForwarding, canonical)
	case len(v) > 1:
		return "", fmt.Errorf("%w: %s sent more than once", errBadForwarding, canonical)
	}
	return v[0], nil
}

// maxURILen bounds what we will parse and normalize from a header.
const maxURILen = 8192

// parseForwardAuth reads the Traefik/Caddy dialect. It reads only
// X-Forwarded-*: Caddy and Traefik pass a client-sent X-Original-URL through,
// and Caddy appends the client's query string to the auth request, so neither
// may decide the target. All four headers are required, once each.
func parseForwardAuth(h http.Header) (target, error) {
	var t target
	var err error
	if t.Method, err = only(h, hForwardedMethod); err != nil {
		return target{}, err
	}
	proto, err := only(h, hForwardedProto)
	if err != nil {
		return target{}, err
	}
	t.Scheme = lowerASCII(proto)
	rawHost, err := only(h, hForwardedHost)
	if err != nil {
		return target{}, err
	}
	if t.URI, err = only(h, hForwardedURI); err != nil {
		return target{}, err
	}
	if t.Host, err = cleanHost(rawHost); err != nil {
		return target{}, fmt.Errorf("%w: %s: %v", errBadForwarding, hForwardedHost, err)
	}
	return t, checkTarget(t, forwardAuthNames)
}

// parseAuthRequest reads the nginx dialect: X-Original-URL (absolute) and
// X-Original-Method, both required once. nginx sends the subrequest itself
// as GET.
func parseAuthRequest(h http.Header) (target, error) {
	raw, err := only(h, hOriginalURL)
	if err != nil {
		return target{}, err
	}
	method, err := only(h, hOriginalMethod)
	if err != nil {
		return target{}, err
	}
	if len(raw) > maxURILen {
		return target{}, fmt.Errorf("%w: %s too long", errBadForwarding, hOriginalURL)
	}
	// nginx's $request_uri is the target as the client sent it, raw '#'
	// included, and the backend gets the same bytes: url.Parse would take
	// what follows '#' for a fragment and judge a shorter path than the one
	// served (/public/p#/../../admin). Such a target is refused, as on the
	// forward-auth endpoint.
	if i := strings.IndexFunc(raw, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '#' }); i >= 0 {
		return target{}, fmt.Errorf("%w: %s: forbidden character", errBadForwarding, hOriginalURL)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.User != nil {
		return target{}, fmt.Errorf("%w: %s is not an absolute URL", errBadForwarding, hOriginalURL)
	}
	host, err := cleanHost(u.Host)
	if err != nil {
		return target{}, fmt.Errorf("%w: %s host: %v", errBadForwarding, hOriginalURL, err)
	}
	t := target{
		Method: method,
		Scheme: lowerASCII(u.Scheme),
		Host:   host,
		URI:    u.EscapedPath(),
	}
	if t.URI == "" {
		t.URI = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		t.URI += "?" + u.RawQuery
	}
	return t, checkTarget(t, authRequestNames)
}

// headerNames says which header carried each part of a target, so that an
// error names the header to fix.
type headerNames struct{ scheme, method, uri string }

var (
	forwardAuthNames = headerNames{scheme: hForwardedProto, method: hForwardedMethod, uri: hForwardedURI}
	authRequestNames = headerNames{scheme: hOriginalURL, method: hOriginalMethod, uri: hOriginalURL}
)

func checkTarget(t target, names headerNames) error {
	if t.Scheme != "http" && t.Scheme != "https" {
		return fmt.Errorf("%w: %s: scheme must be http or https", errBadForwarding, names.scheme)
	}
	if !validMethod(t.Method) {
		return fmt.Errorf("%w: %s: not an HTTP method", errBadForwarding, names.method)
	}
	if len(t.URI) > maxURILen {
		return fmt.Errorf("%w: %s: too long", errBadForwarding, names.uri)
	}
	if t.URI[0] != '/' {
		return fmt.Errorf("%w: %s: path must start with /", errBadForwarding, names.uri)
	}
	for i := 0; i < len(t.URI); i++ {
		if c := t.URI[i]; c <= ' ' || c == 0x7f || c == '#' {
			return fmt.Errorf("%w: %s: forbidden character", errBadForwarding, names.uri)
		}
	}
	// A path backends read in ways too different to judge once (%00, %u
	// escapes, overlong UTF-8) is refused rather than guessed at.
	if err := access.CheckPath(t.URI); err != nil {
		return fmt.Errorf("%w: %s: %w", errBadForwarding, names.uri, err)
	}
	return nil
}

// maxMethodLen bounds a forwarded method; registered methods are far
// shorter.
const maxMethodLen = 32

// validMethod accepts an RFC 9110 token (config's one token check) of
// reasonable length.
func validMethod(m string) bool { return len(m) <= maxMethodLen && config.IsToken(m) }

// cleanHost validates a Host value (name or IP, optional port) and returns it
// lower-cased without a trailing dot. Anything that could smuggle a second
// host, user-info or a path is refused.
func cleanHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("missing")
	}
	if len(h) > 260 {
		return "", errors.New("too long")
	}
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", errors.New("bad IPv6 literal")
		}
		if _, err := netip.ParseAddr(h[1:end]); err != nil {
			return "", errors.New("bad IPv6 literal")
		}
		name, port = h[:end+1], h[end+1:]
		if port != "" && port[0] != ':' {
			return "", errors.New("bad port")
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		name, port = h[:i], h[i:]
	}
	if port != "" {
		if len(port) < 2 || len(port) > 6 {
			return "", errors.New("bad port")
		}
		for i := 1; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return "", errors.New("bad port")
			}
		}
	}
	if !strings.HasPrefix(name, "[") { // name is empty for ":443"
		name = strings.TrimSuffix(name, ".")
		if name == "" {
			return "", errors.New("empty name")
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
				return "", errors.New("invalid character")
			}
		}
	}
	return lowerASCII(name) + port, nil
}

// lowerASCII lower-cases without allocating when there is nothing to change.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// trustedNets decides whose forwarding headers are believed.
type trustedNets []netip.Prefix

func (n trustedNets) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range n {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the connection's other end. ok is false when
// RemoteAddr is not an IP address (a unix socket).
func peerAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap(), true
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// peerTrusted reports whether the connection comes from a trusted proxy.
// Unix socket peers are local processes the socket's file permissions let in,
// so they are trusted.
func peerTrusted(r *http.Request, trusted trustedNets) (netip.Addr, bool) {
	a, ok := peerAddr(r)
	if !ok {
		return netip.Addr{}, true
	}
	return a, trusted.contains(a)
}

// clientAddr finds the client: X-Forwarded-For walked from the right,
// skipping trusted proxies; the first untrusted address is the client. The
// left part of the header is written by the client and can never choose the
// address. Forwarding headers count only when the peer itself is trusted.
// When every hop is trusted, the left-most address is the client. headers
// must be in canonical form.
func clientAddr(r *http.Request, trusted trustedNets, headers ...string) netip.Addr {
	peer, ok := peerTrusted(r, trusted)
	if !ok {
		return peer
	}
	return forwardedClient(r.Header, peer, trusted, headers)
}

// forwardedClient is clientAddr for a peer already known to be trusted.
func forwardedClient(h http.Header, peer netip.Addr, trusted trustedNets, headers []string) netip.Addr {
	var last netip.Addr
	for _, name := range headers {
		values := h[name]
		if len(values) == 0 {
			continue
		}
		for i := len(values) - 1; i >= 0; i-- {
			v := values[i]
			for v != "" {
				var part string
				if j := strings.LastIndexByte(v, ','); j >= 0 {
					part, v = v[j+1:], v[:j]
				} else {
					part, v = v, ""
				}
				a, ok := parseForwardedAddr(strings.TrimSpace(part))
				if !ok {
					// Garbage in the chain: nothing left of it can be believed.
					if last.IsValid() {
						return last
					}
					return peer
				}
				if !trusted.contains(a) {
					return a
				}
				last = a
			}
		}
		if last.IsValid() {
			return last
		}
	}
	if last.IsValid() {
		return last
	}
	return peer
}

// parseForwardedAddr accepts "1.2.3.4", "1.2.3.4:5", "::1" and "[::1]:5".
func parseForwardedAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
