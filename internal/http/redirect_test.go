package http

import (
	"strings"
	"testing"

	"gate/internal/config"
)

func TestRedirectPolicy(t *testing.T) {
	p := redirectPolicy{domain: "example.com", httpsOnly: true}
	tests := []struct {
		rd   string
		want bool
	}{
		{"https://app.example.com/path?x=1", true},
		{"https://example.com/", true},
		{"https://deep.sub.example.com:8443/", true},
		{"https://APP.Example.COM/", true},
		{"", false},
		{"/relative", false},
		{"//evil.com", false},
		{"///evil.com", false},
		{"https://evil.com", false},
		{"https://example.com.evil.com/", false},
		{"https://evilexample.com/", false},
		{"https://app.example.com@evil.com/", false},
		{"https://user:pass@app.example.com/", false},
		{"https:\\\\evil.com", false},
		{"https://evil.com\\@app.example.com", false},
		{"https:/\\evil.com", false},
		{"\\\\evil.com", false},
		{"javascript:alert(1)", false},
		{"data:text/html,hi", false},
		{"http://app.example.com/", false},
		{"ftp://app.example.com/", false},
		{"https://app.example.com\t.evil.com/", false},
		{"https://app.example.com%2F.evil.com/", false},
		{"https://evil.com#.example.com", false},
		{"https:app.example.com", false},
		{" https://app.example.com/", false},
		{"https://[::1]/", false},
	}
	for _, tt := range tests {
		t.Run(tt.rd, func(t *testing.T) {
			if _, got := p.safe(tt.rd); got != tt.want {
				t.Errorf("safe(%q) = %v; want %v", tt.rd, got, tt.want)
			}
		})
	}
	t.Run("too_long_once_encoded", func(t *testing.T) {
		rd := "https://app.example.com/" + strings.Repeat("\xf1", 1400)
		if len(rd) > maxRedirectLen {
			t.Fatal("test input must fit the raw limit")
		}
		if got, ok := p.safe(rd); ok {
			t.Errorf("safe accepted a target that encodes to %d bytes", len(got))
		}
	})
	t.Run("http_allowed_when_portal_is_http", func(t *testing.T) {
		p := redirectPolicy{domain: "example.com"}
		if _, ok := p.safe("http://app.example.com/"); !ok {
			t.Error("http target refused for an http portal")
		}
	})
}

func FuzzRedirect(f *testing.F) {
	for _, s := range []string{"https://app.example.com/x", "//evil.com", "https:\\\\evil.com", "https://a@b", "https://example.com.evil.com"} {
		f.Add(s)
	}
	p := redirectPolicy{domain: "example.com", httpsOnly: true}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := p.safe(raw)
		if !ok {
			return
		}
		// Whatever passes must itself pass again and stay on the domain.
		again, ok := p.safe(got)
		if !ok || again != got {
			t.Fatalf("safe(%q) = %q, which does not pass again", raw, got)
		}
		tgt, err := parseAuthRequest(header("X-Original-URL", got))
		if err != nil {
			return
		}
		if !config.WithinDomain(hostname(tgt.Host), "example.com") {
			t.Fatalf("safe(%q) accepted host %q", raw, tgt.Host)
		}
	})
}
