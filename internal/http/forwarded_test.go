package http

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// parseTest is one row of a dialect's table: the headers a proxy sends and
// the target they describe, or a 400.
type parseTest struct {
	name string
	h    http.Header
	want target
	// wantErr, when set, is a text the 400's reason must contain (the
	// header to fix).
	wantErr string
}

func runParseTests(t *testing.T, parse func(http.Header) (target, error), tests []parseTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.h)
			if tt.wantErr != "" {
				if !errors.Is(err, errBadForwarding) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want errBadForwarding naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

// fa is a complete forward-auth header set with kv replacing (or, with an
// empty value, removing) some of its headers.
func fa(kv ...string) http.Header {
	h := header("X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https",
		"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/")
	return override(h, kv)
}

// ar is fa for the auth-request dialect.
func ar(kv ...string) http.Header {
	h := header("X-Original-URL", "https://app.example.com/", "X-Original-Method", "GET")
	return override(h, kv)
}

func override(h http.Header, kv []string) http.Header {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			h.Del(kv[i])
		} else {
			h.Set(kv[i], kv[i+1])
		}
	}
	return h
}

// twice adds a second value to a header already in h.
func twice(h http.Header, name, value string) http.Header {
	h.Add(name, value)
	return h
}

func TestParseForwardAuth(t *testing.T) {
	tests := []parseTest{
		{
			name: "all_headers",
			h:    fa("X-Forwarded-Method", "POST", "X-Forwarded-Host", "App.Example.com", "X-Forwarded-Uri", "/a%20b?x=1"),
			want: target{Method: "POST", Scheme: "https", Host: "app.example.com", URI: "/a%20b?x=1"},
		},
		{
			name: "ignores_x_original_url",
			h:    fa("X-Forwarded-Uri", "/public", "X-Original-URL", "https://admin.example.com/secret"),
			want: target{Method: "GET", Scheme: "https", Host: "app.example.com", URI: "/public"},
		},
		{name: "proto_upper_case", h: fa("X-Forwarded-Proto", "HTTP"),
			want: target{Method: "GET", Scheme: "http", Host: "app.example.com", URI: "/"}},
		{name: "host_with_port", h: fa("X-Forwarded-Host", "app.example.com:8443"),
			want: target{Method: "GET", Scheme: "https", Host: "app.example.com:8443", URI: "/"}},
		{name: "trailing_dot", h: fa("X-Forwarded-Host", "app.example.com."),
			want: target{Method: "GET", Scheme: "https", Host: "app.example.com", URI: "/"}},
		// Every header is required: a default would judge another request
		// than the one the proxy forwards (a methods rule passed as GET).
		{name: "missing_method", h: fa("X-Forwarded-Method", ""), wantErr: "missing X-Forwarded-Method"},
		{name: "missing_proto", h: fa("X-Forwarded-Proto", ""), wantErr: "missing X-Forwarded-Proto"},
		{name: "missing_host", h: fa("X-Forwarded-Host", ""), wantErr: "missing X-Forwarded-Host"},
		{name: "missing_uri", h: fa("X-Forwarded-Uri", ""), wantErr: "missing X-Forwarded-Uri"},
		{name: "empty_uri", h: http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Proto": {"https"},
			"X-Forwarded-Host": {"app.example.com"}, "X-Forwarded-Uri": {""}}, wantErr: "missing X-Forwarded-Uri"},
		// Sent twice: the client's copy and the proxy's, in either order.
		{name: "method_twice", h: twice(fa(), "X-Forwarded-Method", "DELETE"), wantErr: "X-Forwarded-Method sent more than once"},
		{name: "proto_twice", h: twice(fa(), "X-Forwarded-Proto", "http"), wantErr: "X-Forwarded-Proto sent more than once"},
		{name: "host_twice", h: twice(fa(), "X-Forwarded-Host", "admin.example.com"), wantErr: "X-Forwarded-Host sent more than once"},
		{name: "uri_twice", h: twice(fa(), "X-Forwarded-Uri", "/admin"), wantErr: "X-Forwarded-Uri sent more than once"},
		{name: "bad_scheme", h: fa("X-Forwarded-Proto", "javascript"), wantErr: "X-Forwarded-Proto"},
		{name: "host_with_userinfo", h: fa("X-Forwarded-Host", "evil.com@app.example.com"), wantErr: "X-Forwarded-Host"},
		{name: "host_with_path", h: fa("X-Forwarded-Host", "app.example.com/x"), wantErr: "X-Forwarded-Host"},
		{name: "host_with_two_hosts", h: fa("X-Forwarded-Host", "a.example.com, b.example.com"), wantErr: "X-Forwarded-Host"},
		{name: "host_port_only", h: fa("X-Forwarded-Host", ":443"), wantErr: "X-Forwarded-Host"},
		{name: "uri_not_absolute_path", h: fa("X-Forwarded-Uri", "http://evil.com/"), wantErr: "X-Forwarded-Uri"},
		{name: "uri_with_space", h: fa("X-Forwarded-Uri", "/a b"), wantErr: "X-Forwarded-Uri"},
		{name: "uri_with_fragment", h: fa("X-Forwarded-Uri", "/public#/../admin"), wantErr: "X-Forwarded-Uri"},
		{name: "bad_method", h: fa("X-Forwarded-Method", "GE T"), wantErr: "X-Forwarded-Method"},
	}
	runParseTests(t, parseForwardAuth, tests)
}

func TestParseAuthRequest(t *testing.T) {
	tests := []parseTest{
		{
			name: "url_and_method",
			h:    ar("X-Original-URL", "https://App.example.com/dash%2Fboard?x=1&y=%20", "X-Original-Method", "DELETE"),
			want: target{Method: "DELETE", Scheme: "https", Host: "app.example.com", URI: "/dash%2Fboard?x=1&y=%20"},
		},
		{
			name: "ignores_x_forwarded",
			h: ar("X-Original-URL", "http://app.example.com", "X-Forwarded-Host", "admin.example.com",
				"X-Forwarded-Uri", "/admin", "X-Forwarded-Proto", "https", "X-Forwarded-Method", "DELETE"),
			want: target{Method: "GET", Scheme: "http", Host: "app.example.com", URI: "/"},
		},
		{name: "empty_query_kept", h: ar("X-Original-URL", "https://app.example.com/p?"),
			want: target{Method: "GET", Scheme: "https", Host: "app.example.com", URI: "/p?"}},
		{name: "missing_url", h: ar("X-Original-URL", ""), wantErr: "missing X-Original-Url"},
		{name: "missing_method", h: ar("X-Original-Method", ""), wantErr: "missing X-Original-Method"},
		{name: "url_twice", h: twice(ar(), "X-Original-URL", "https://app.example.com/admin"), wantErr: "X-Original-Url sent more than once"},
		{name: "method_twice", h: twice(ar(), "X-Original-Method", "DELETE"), wantErr: "X-Original-Method sent more than once"},
		{name: "relative", h: ar("X-Original-URL", "/admin"), wantErr: "X-Original-Url"},
		{name: "scheme_relative", h: ar("X-Original-URL", "//app.example.com/"), wantErr: "X-Original-Url"},
		{name: "userinfo", h: ar("X-Original-URL", "https://u:p@app.example.com/"), wantErr: "X-Original-Url"},
		{name: "other_scheme", h: ar("X-Original-URL", "ftp://app.example.com/"), wantErr: "X-Original-Url"},
		{name: "opaque", h: ar("X-Original-URL", "https:app.example.com"), wantErr: "X-Original-Url"},
		{name: "port_without_host", h: ar("X-Original-URL", "https://:443/"), wantErr: "X-Original-Url"},
		{name: "bad_method", h: ar("X-Original-Method", "GE T"), wantErr: "X-Original-Method"},
		// nginx passes a raw '#' from the request line: what follows it is
		// part of the path the backend serves, not a fragment.
		{name: "raw_hash", h: ar("X-Original-URL", "https://app.example.com/public/p#/../../admin"), wantErr: "X-Original-Url: forbidden character"},
		{name: "raw_space", h: ar("X-Original-URL", "https://app.example.com/a b"), wantErr: "X-Original-Url: forbidden character"},
		{name: "raw_control", h: ar("X-Original-URL", "https://app.example.com/a\x01"), wantErr: "X-Original-Url: forbidden character"},
		{name: "forwarded_only", h: fa(), wantErr: "missing X-Original-Url"},
	}
	runParseTests(t, parseAuthRequest, tests)
}

func TestClientAddr(t *testing.T) {
	trusted := trustedNets{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name   string
		remote string
		h      http.Header
		want   string
	}{
		{name: "no_header_uses_peer", remote: "10.0.0.5:1234", h: header(), want: "10.0.0.5"},
		{name: "rightmost_untrusted", remote: "10.0.0.5:1234", h: header("X-Forwarded-For", "1.1.1.1, 2.2.2.2, 10.0.0.7"), want: "2.2.2.2"},
		{name: "client_written_left_part_ignored", remote: "10.0.0.5:1234", h: header("X-Forwarded-For", "10.0.0.99, 203.0.113.9"), want: "203.0.113.9"},
		{name: "spoofed_trusted_left", remote: "127.0.0.1:1", h: header("X-Forwarded-For", "127.0.0.1, 198.51.100.1"), want: "198.51.100.1"},
		{name: "untrusted_peer_headers_ignored", remote: "203.0.113.1:5", h: header("X-Forwarded-For", "1.2.3.4"), want: "203.0.113.1"},
		{name: "multiple_header_lines", remote: "10.0.0.5:1", h: header("X-Forwarded-For", "9.9.9.9", "X-Forwarded-For", "8.8.8.8, 10.1.1.1"), want: "8.8.8.8"},
		{name: "all_trusted_leftmost", remote: "10.0.0.5:1", h: header("X-Forwarded-For", "10.0.0.1, 10.0.0.2"), want: "10.0.0.1"},
		{name: "garbage_stops_walk", remote: "10.0.0.5:1", h: header("X-Forwarded-For", "1.1.1.1, garbage, 10.0.0.2"), want: "10.0.0.2"},
		{name: "garbage_only_uses_peer", remote: "10.0.0.5:1", h: header("X-Forwarded-For", "garbage"), want: "10.0.0.5"},
		{name: "ipv6_with_port", remote: "10.0.0.5:1", h: header("X-Forwarded-For", "[2001:db8::1]:443"), want: "2001:db8::1"},
		{name: "mapped_ipv4_peer", remote: "[::ffff:10.0.0.5]:1", h: header("X-Forwarded-For", "192.0.2.1"), want: "192.0.2.1"},
		{name: "real_ip_fallback", remote: "10.0.0.5:1", h: header("X-Real-IP", "192.0.2.7"), want: "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header = tt.h
			if got := clientAddr(r, trusted, hForwardedFor, hRealIP); got.String() != tt.want {
				t.Errorf("clientAddr = %v; want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseForwarding(f *testing.F) {
	f.Add("https", "app.example.com", "/a?b=c", "GET", "https://app.example.com/x?y", "1.2.3.4, 10.0.0.1")
	f.Add("http", "[::1]:80", "//x/../y", "POST", "//evil", "garbage,,")
	f.Add("HTTPS", "a.example.com.", "", "", "https:opaque", "[2001:db8::1]:1")
	trusted := trustedNets{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, proto, host, uri, method, original, xff string) {
		h := header("X-Forwarded-Proto", proto, "X-Forwarded-Host", host, "X-Forwarded-Uri", uri,
			"X-Forwarded-Method", method, "X-Original-URL", original, "X-Original-Method", method)
		for _, parse := range []func(http.Header) (target, error){parseForwardAuth, parseAuthRequest} {
			tgt, err := parse(h)
			if err != nil {
				if !errors.Is(err, errBadForwarding) {
					t.Fatalf("error %v does not wrap errBadForwarding", err)
				}
				continue
			}
			if tgt.Scheme != "http" && tgt.Scheme != "https" {
				t.Fatalf("accepted scheme %q", tgt.Scheme)
			}
			if tgt.URI == "" || tgt.URI[0] != '/' {
				t.Fatalf("accepted URI %q", tgt.URI)
			}
			if _, err := cleanHost(tgt.Host); err != nil {
				t.Fatalf("accepted host %q: %v", tgt.Host, err)
			}
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:1"
		r.Header.Set("X-Forwarded-For", xff)
		if a := clientAddr(r, trusted, hForwardedFor); !a.IsValid() {
			t.Fatalf("clientAddr returned an invalid address for %q", xff)
		}
	})
}

// The hot path indexes header maps by these names, so they must be in the
// form net/http stores them in.
func TestHeaderNamesCanonical(t *testing.T) {
	for _, name := range []string{hForwardedMethod, hForwardedProto, hForwardedHost, hForwardedURI,
		hForwardedFor, hRealIP, hOriginalURL, hOriginalMethod} {
		if c := textproto.CanonicalMIMEHeaderKey(name); c != name {
			t.Errorf("%q is not canonical (%q)", name, c)
		}
	}
}
