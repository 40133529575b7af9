package config_test

import (
	"testing"
	"time"

	"gate/internal/config"
)

// cookiesYAML is a valid configuration in the multi-domain form, with the
// entries given.
func cookiesYAML(tb testing.TB, entries string) string {
	tb.Helper()
	return `
session:
  secret: ` + testSecret + `
  name: gate_session
  expiration: 1h
  inactivity: 5m
  cookies:
` + entries + `
authentication_backend:
  file:
    path: ` + usersFile(tb) + `
`
}

const twoDomains = `
    - domain: Example.com
      authelia_url: https://auth.example.com
      default_redirection_url: https://www.example.com
    - domain: example.org
      portal_url: https://login.example.org/gate
      name: org_session
      same_site: strict
      inactivity: 10m
      expiration: 2h
      remember_me: -1
`

func TestCookieDomainsMultiForm(t *testing.T) {
	c := mustLoad(t, nil, cookiesYAML(t, twoDomains))
	got := c.CookieDomains()
	want := []config.CookieDomain{
		{
			Domain: "example.com", PortalURL: "https://auth.example.com",
			DefaultRedirectURL: "https://www.example.com",
			Name:               "gate_session", SameSite: "lax",
			Expiration: time.Hour, Inactivity: 5 * time.Minute, RememberMe: 30 * 24 * time.Hour,
		},
		{
			Domain: "example.org", PortalURL: "https://login.example.org/gate",
			Name: "org_session", SameSite: "strict",
			Expiration: 2 * time.Hour, Inactivity: 10 * time.Minute, RememberMe: config.RememberMeDisabled,
		},
	}
	if len(got) != len(want) {
		t.Fatalf("CookieDomains() has %d entries; want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Domain != w.Domain || g.PortalURL != w.PortalURL || g.DefaultRedirectURL != w.DefaultRedirectURL ||
			g.Name != w.Name || g.SameSite != w.SameSite || g.Expiration != w.Expiration ||
			g.Inactivity != w.Inactivity || g.RememberMe != w.RememberMe {
			t.Errorf("CookieDomains()[%d] = %+v; want %+v", i, g, w)
		}
	}
	if got, want := got[1].Key(), "session.cookies[1]"; got != want {
		t.Errorf("Key() = %q; want %q", got, want)
	}
}

func TestCookieDomainsSingleFormIsOneEntry(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), "portal:\n  default_redirect_url: https://www.example.com\nsession:\n  domain: EXAMPLE.com\n")
	got := c.CookieDomains()
	if len(got) != 1 {
		t.Fatalf("CookieDomains() has %d entries; want 1", len(got))
	}
	d := got[0]
	if d.Domain != "example.com" || d.PortalURL != "https://auth.example.com" ||
		d.DefaultRedirectURL != "https://www.example.com" || d.Name != "gate_session" || d.Key() != "session" {
		t.Errorf("CookieDomains()[0] = %+v", d)
	}
}

func TestCookieDomainsProblems(t *testing.T) {
	tests := []struct {
		name    string
		entries string
		extra   string // a further document, loaded after
		key     string
		msg     string
	}{
		{
			name:    "both_forms",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n",
			extra:   "session:\n  domain: example.com\n",
			key:     "session.cookies", msg: "session.domain",
		},
		{
			name:    "both_forms_portal",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n",
			extra:   "portal:\n  url: https://auth.example.com\n",
			key:     "session.cookies", msg: "portal.url",
		},
		{
			name:    "overlap_subdomain",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n    - domain: app.example.com\n      authelia_url: https://auth.app.example.com\n",
			key:     "session.cookies[1].domain", msg: "session.cookies[0].domain",
		},
		{
			name:    "overlap_parent_later",
			entries: "    - domain: app.example.com\n      authelia_url: https://auth.app.example.com\n    - domain: example.org\n      authelia_url: https://auth.example.org\n    - domain: Example.com\n      authelia_url: https://auth.example.com\n",
			key:     "session.cookies[2].domain", msg: "overlaps session.cookies[0].domain",
		},
		{
			name:    "same_domain_twice",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n    - domain: example.com\n      authelia_url: https://login.example.com\n",
			key:     "session.cookies[1].domain", msg: "overlaps",
		},
		{
			name:    "portal_outside_entry",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n    - domain: example.org\n      authelia_url: https://auth.example.com\n",
			key:     "session.cookies[1].authelia_url", msg: `not session.cookies[1].domain "example.org"`,
		},
		{
			name:    "portal_missing",
			entries: "    - domain: example.com\n",
			key:     "session.cookies[0].authelia_url", msg: "required",
		},
		{
			name:    "domain_missing",
			entries: "    - authelia_url: https://auth.example.com\n",
			key:     "session.cookies[0].domain", msg: "required",
		},
		{
			name:    "domain_invalid",
			entries: "    - domain: .example.com\n      authelia_url: https://auth.example.com\n",
			key:     "session.cookies[0].domain", msg: "leading dot",
		},
		{
			name:    "default_redirect_outside",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      default_redirection_url: https://www.example.org\n",
			key:     "session.cookies[0].default_redirection_url", msg: "not session.cookies[0].domain",
		},
		{
			name:    "default_redirect_http_under_https",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      default_redirection_url: http://www.example.com\n",
			key:     "session.cookies[0].default_redirection_url", msg: "https",
		},
		{
			name:    "entry_inactivity_over_expiration",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      inactivity: 2h\n",
			key:     "session.cookies[0].inactivity", msg: "longer than session.expiration",
		},
		{
			name:    "entry_expiration_zero",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      expiration: 0\n",
			key:     "session.cookies[0].expiration", msg: "positive",
		},
		{
			name:    "entry_remember_me_negative",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      remember_me: -2\n",
			key:     "session.cookies[0].remember_me", msg: "-1",
		},
		{
			name:    "entry_same_site",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      same_site: sometimes\n",
			key:     "session.cookies[0].same_site", msg: "lax, strict or none",
		},
		{
			name:    "entry_same_site_none_http",
			entries: "    - domain: example.com\n      authelia_url: http://auth.example.com\n      same_site: none\n",
			key:     "session.cookies[0].same_site", msg: "https session.cookies[0].authelia_url",
		},
		{
			name:    "entry_name",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      name: 'a b'\n",
			key:     "session.cookies[0].name", msg: "valid cookie name",
		},
		{
			name:    "entry_unknown_key",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      domian: x\n",
			key:     "session.cookies[0].domian", msg: "unknown key",
		},
		{
			name:    "entry_alias_and_canonical",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      portal_url: https://auth.example.com\n",
			key:     "session.cookies[0].portal_url", msg: "session.cookies[0].authelia_url",
		},
		{
			name:    "entry_bad_duration",
			entries: "    - domain: example.com\n      authelia_url: https://auth.example.com\n      inactivity: soon\n",
			key:     "session.cookies[0].inactivity", msg: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := []string{cookiesYAML(t, tt.entries)}
			if tt.extra != "" {
				docs = append(docs, tt.extra)
			}
			_, err := loadYAML(t, nil, docs...)
			wantProblem(t, err, tt.key, tt.msg)
		})
	}
}

// An inactivity of 0 in an entry is an override (no inactivity limit), not
// "take the session's".
func TestCookieDomainsZeroOverride(t *testing.T) {
	c := mustLoad(t, nil, cookiesYAML(t, "    - domain: example.com\n      authelia_url: https://auth.example.com\n      inactivity: 0\n"))
	if got := c.CookieDomains()[0].Inactivity; got != 0 {
		t.Errorf("Inactivity = %v; want 0", got)
	}
}
