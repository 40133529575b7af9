package config_test

import (
	"net/http"
	"strings"
	"testing"

	"gate/internal/config"
)

func TestParseDomain(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"example.com", "example.com"},
		{"Example.COM", "example.com"},
		{"localhost", "localhost"},
		{"a-b.example.com", "a-b.example.com"},
		{"10.0.0.1", "10.0.0.1"},
		{"1a.example", "1a.example"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := config.ParseDomain(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			// What ParseDomain accepts, net/http sets as a cookie domain.
			if err := (&http.Cookie{Name: "n", Value: "v", Domain: got}).Valid(); err != nil {
				t.Errorf("net/http refuses domain %q: %v", got, err)
			}
		})
	}
}

func TestParseDomainErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "required"},
		{"leading_dot", ".example.com", "leading dot"},
		{"trailing_dot", "example.com.", "trailing dot"},
		{"url", "https://example.com", "bare domain"},
		{"host_port", "example.com:443", "bare domain"},
		{"ipv6", "::1", "bare domain"},
		{"underscore", "my_site.example.com", "'_'"},
		{"numeric", "123.456", "invalid domain"},
		{"space", "exa mple.com", "invalid domain"},
		{"empty_label", "a..example.com", "invalid domain"},
		{"edge_hyphen", "-a.example.com", "invalid domain"},
		{"wildcard", "*.example.com", "invalid domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ParseDomain(tt.in)
			if err == nil {
				t.Fatalf("ParseDomain(%q) = %q; want an error", tt.in, got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseDomain(%q) = %v; want it to mention %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestParseRuleDomain(t *testing.T) {
	tests := []struct {
		in       string
		host     string
		wildcard bool
		wantErr  string
	}{
		{in: "app.example.com", host: "app.example.com"},
		{in: "App.Example.COM.", host: "app.example.com"},
		{in: "*.example.com", host: "example.com", wildcard: true},
		{in: "*.Example.com.", host: "example.com", wildcard: true},
		{in: "internal_host", host: "internal_host"},
		{in: "", wantErr: "must not be empty"},
		{in: "*", wantErr: "lone *"},
		{in: "{user}.example.com", wantErr: "placeholders"},
		{in: "a.*.example.com", wantErr: "host name or a *. wildcard"},
		{in: "*example.com", wantErr: "host name or a *. wildcard"},
		{in: "a.example.com:443", wantErr: "host name or a *. wildcard"},
		{in: "[::1]", wantErr: "host name or a *. wildcard"},
		{in: " a.example.com", wantErr: "host name or a *. wildcard"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, wildcard, err := config.ParseRuleDomain(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRuleDomain(%q) = %q, %v, %v; want an error mentioning %q", tt.in, host, wildcard, err, tt.wantErr)
				}
				return
			}
			if err != nil || host != tt.host || wildcard != tt.wildcard {
				t.Errorf("ParseRuleDomain(%q) = %q, %v, %v; want %q, %v", tt.in, host, wildcard, err, tt.host, tt.wildcard)
			}
		})
	}
}

func TestWithinDomain(t *testing.T) {
	tests := []struct {
		host, domain string
		want         bool
	}{
		{"example.com", "example.com", true},
		{"app.example.com", "example.com", true},
		{"a.b.example.com", "example.com", true},
		{"APP.Example.COM", "example.com", true},
		{"app.example.com.", "example.com", true},
		{"example.com.", "example.com", true},
		{"badexample.com", "example.com", false},
		{"example.com.evil.org", "example.com", false},
		{".example.com", "example.com", false},
		{"com", "example.com", false},
		{"", "example.com", false},
		{"example.com", "", false},
		{"app.example.com..", "example.com", false},
		{"10.0.0.1", "10.0.0.1", true},
		{"110.0.0.1", "10.0.0.1", false},
	}
	for _, tt := range tests {
		if got := config.WithinDomain(tt.host, tt.domain); got != tt.want {
			t.Errorf("WithinDomain(%q, %q) = %v; want %v", tt.host, tt.domain, got, tt.want)
		}
	}
}

// The authz endpoints ask WithinDomain on every request.
func TestWithinDomainDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { config.WithinDomain("App.Example.com.", "example.com") }); n != 0 {
		t.Errorf("WithinDomain allocates %v times; want 0", n)
	}
}

func TestIsToken(t *testing.T) {
	for in, want := range map[string]bool{
		"GET": true, "propfind": true, "M-SEARCH": true, "!#$%&'*+-.^_`|~09az": true,
		"": false, "GE T": false, "GET\r": false, "(GET)": false, "GÉT": false, "a/b": false, `"x"`: false,
	} {
		if got := config.IsToken(in); got != want {
			t.Errorf("IsToken(%q) = %v; want %v", in, got, want)
		}
	}
}

func TestParseMethod(t *testing.T) {
	if got, err := config.ParseMethod("propFind"); err != nil || got != "PROPFIND" {
		t.Errorf("ParseMethod(propFind) = %q, %v; want PROPFIND", got, err)
	}
	for _, in := range []string{"", "GE T", " GET", "GET/1"} {
		if got, err := config.ParseMethod(in); err == nil {
			t.Errorf("ParseMethod(%q) = %q; want an error", in, got)
		}
	}
}

func TestParseSiteURL(t *testing.T) {
	for _, in := range []string{"https://auth.example.com", "http://10.0.0.1:9091/gate", "HTTPS://AUTH.example.com"} {
		if _, err := config.ParseSiteURL(in); err != nil {
			t.Errorf("ParseSiteURL(%q) = %v; want nil", in, err)
		}
	}
	for _, in := range []string{"", "/login", "auth.example.com", "ftp://auth.example.com", "https://u:p@auth.example.com", "https://exa mple.com", "https:auth"} {
		if u, err := config.ParseSiteURL(in); err == nil {
			t.Errorf("ParseSiteURL(%q) = %v; want an error", in, u)
		}
	}
}

func TestPortalHTTPS(t *testing.T) {
	for in, want := range map[string]bool{
		"https://auth.example.com": true, "HTTPS://auth.example.com": true,
		"http://auth.example.com": false, "": false, "https://": false,
	} {
		if got := (config.Portal{URL: in}).HTTPS(); got != want {
			t.Errorf("Portal{URL: %q}.HTTPS() = %v; want %v", in, got, want)
		}
	}
}

// DomainSet answers as WithinDomain over the list does.
func TestDomainSet(t *testing.T) {
	lists := [][]string{nil, {"example.com"}, {"example.com", "example.org", "corp.example.net"}}
	hosts := []string{"example.com", "app.example.com", "APP.Example.COM", "app.example.com.", "example.org",
		"a.b.example.org", "corp.example.net", "x.corp.example.net", "example.net", ".example.com", "a..example.com",
		"badexample.com", "example.com.evil.org", "", ".", "com", "[::1]", "10.0.0.1"}
	for _, domains := range lists {
		set := config.NewDomainSet(domains)
		for _, h := range hosts {
			want := -1
			for i, d := range domains {
				if config.WithinDomain(h, d) {
					want = i
					break
				}
			}
			if got := set.Find(h); got != want {
				t.Errorf("domains %q: Find(%q) = %d; want %d", domains, h, got, want)
			}
		}
	}
}
