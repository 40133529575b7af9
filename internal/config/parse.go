package config

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ParseAddress splits server.address into the network and address that
// net.Listen takes. Accepted: tcp://host:port (also tcp4://, tcp6://),
// host:port, :port, and unix:///absolute/path. Port 0 asks the kernel for a
// free port, which tests use.
func ParseAddress(addr string) (network, address string, err error) {
	if addr == "" {
		return "", "", errors.New("empty address")
	}
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		if !strings.HasPrefix(path, "/") {
			return "", "", errors.New("unix socket path must be absolute: unix:///run/gate.sock")
		}
		return "unix", path, nil
	}
	network = "tcp"
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		switch scheme {
		case "tcp", "tcp4", "tcp6":
			network = scheme
		default:
			return "", "", fmt.Errorf("unknown scheme %q: use tcp:// or unix://", scheme)
		}
		addr = rest
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", errors.New("must be host:port, :port, tcp://host:port or unix:///path")
	}
	if _, err := parsePort(port, 0); err != nil {
		return "", "", err
	}
	if host != "" && !validHost(host) {
		return "", "", fmt.Errorf("invalid host %q", host)
	}
	return network, net.JoinHostPort(host, port), nil
}

// parsePort parses a decimal port of at least min.
func parsePort(s string, min int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || !isInteger(s) || n < min || n > 65535 {
		return 0, fmt.Errorf("invalid port %q: must be %d-65535", s, min)
	}
	return n, nil
}

// validHost accepts an IP address (IPv6 without brackets, as
// net.SplitHostPort returns it) or a host name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return validHostname(h)
}

// validHostname accepts a DNS name: dot-separated labels of letters, digits,
// '-' and '_' (internal names use it), none empty.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c == '-' || c == '_' || isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return false
			}
		}
	}
	return true
}

// ParsePrefix parses a CIDR or a bare IP address (server.trusted_proxies,
// a rule's networks); a bare address is the prefix of that one address
// (/32 or /128). IPv4-mapped IPv6 forms are unmapped, because Go reports
// IPv4 peers as plain IPv4 addresses and a mapped prefix would never match
// them: ::ffff:10.0.0.0/104 is 10.0.0.0/8. A mapped prefix shorter than
// /96 is refused: it reaches beyond the mapped range, and no IPv4 network
// says what it means.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: an IPv4-mapped prefix must be /96 or longer (write the IPv4 network, such as 10.0.0.0/8)", s)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR or IP address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// TrustedPrefixes parses server.trusted_proxies with ParsePrefix. The
// error joins one Problem per bad entry, naming its key
// (server.trusted_proxies[1]).
func (s Server) TrustedPrefixes() ([]netip.Prefix, error) {
	var ps problems
	out := s.trustedPrefixes(&ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (s Server) trustedPrefixes(ps *problems) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s.TrustedProxies))
	for i, entry := range s.TrustedProxies {
		p, err := ParsePrefix(entry)
		if err != nil {
			ps.add(indexKey("server.trusted_proxies", i), "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// IsToken reports whether s is an RFC 9110 token: the syntax of a method
// and of a cookie name. It is the one token check: config applies it to
// rule methods and session.name, the authz endpoints to the forwarded
// method.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// ParseMethod parses a rule's method and returns it upper-cased; methods
// are compared ignoring case, so that a backend reading "delete" as DELETE
// cannot take a request past a rule naming DELETE.
func ParseMethod(s string) (string, error) {
	if !IsToken(s) {
		return "", fmt.Errorf("must be an HTTP method such as GET, got %q", s)
	}
	return strings.ToUpper(s), nil
}

// ParseTLSVersion parses "TLS1.0" to "TLS1.3", or the bare "1.0" to "1.3",
// into a crypto/tls version constant.
func ParseTLSVersion(s string) (uint16, error) {
	v := strings.TrimSpace(s)
	if len(v) >= 3 && strings.EqualFold(v[:3], "TLS") {
		v = strings.TrimPrefix(v[3:], " ")
		v = strings.TrimPrefix(strings.TrimPrefix(v, "v"), "V")
	}
	switch v {
	case "1.0":
		return tls.VersionTLS10, nil
	case "1.1":
		return tls.VersionTLS11, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("invalid TLS version %q: must be TLS1.0, TLS1.1, TLS1.2 or TLS1.3", s)
}

// maxPEMFile bounds a certificate or key file.
const maxPEMFile = 1 << 20

// ReadPEM returns the PEM data of a certificate_authority,
// certificate_chain or private_key value: the value itself when it is PEM
// text, else the content of the file it names. Errors never quote the value
// or the content: either may be a private key.
func ReadPEM(value string) ([]byte, error) {
	var b []byte
	if strings.Contains(value, "-----BEGIN") {
		b = []byte(value)
	} else {
		if value == "" {
			return nil, errors.New("empty value")
		}
		var err error
		b, err = readLimited(value, maxPEMFile)
		if err != nil {
			return nil, fmt.Errorf("not PEM text, and not a readable file: %s", pathErr(err))
		}
	}
	if block, _ := pem.Decode(b); block == nil {
		return nil, errors.New("contains no PEM data")
	}
	return b, nil
}
