package config_test

import (
	"testing"

	"gate/internal/config"
)

func TestSessionCookieCheck(t *testing.T) {
	secure := config.SessionCookie{Name: "gate_session", Domain: "example.com", Secure: true}
	with := func(f func(*config.SessionCookie)) config.SessionCookie {
		c := secure
		f(&c)
		return c
	}
	tests := []struct {
		name   string
		cookie config.SessionCookie
		// key and msg name the problem; an empty key: no problem.
		key, msg string
	}{
		{name: "plain", cookie: secure},
		{name: "host_only", cookie: with(func(c *config.SessionCookie) { c.Domain = "" })},
		{name: "secure_prefix_https", cookie: with(func(c *config.SessionCookie) { c.Name = "__Secure-gate" })},
		{name: "secure_prefix_lower_case_https", cookie: with(func(c *config.SessionCookie) { c.Name = "__secure-gate" })},
		{name: "host_prefix_host_only_https", cookie: with(func(c *config.SessionCookie) { c.Name, c.Domain = "__Host-gate", "" })},
		{name: "same_site_none_https", cookie: with(func(c *config.SessionCookie) { c.SameSiteNone = true })},
		{name: "prefix_lookalike", cookie: with(func(c *config.SessionCookie) { c.Name, c.Secure = "__Hostile", false })},

		{name: "empty_name", cookie: with(func(c *config.SessionCookie) { c.Name = "" }), key: "session.name", msg: "required"},
		{name: "name_with_space", cookie: with(func(c *config.SessionCookie) { c.Name = "gate session" }), key: "session.name", msg: "valid cookie name"},
		{name: "name_with_semicolon", cookie: with(func(c *config.SessionCookie) { c.Name = "gate;session" }), key: "session.name", msg: "valid cookie name"},
		{name: "host_prefix_with_domain", cookie: with(func(c *config.SessionCookie) { c.Name = "__Host-gate" }), key: "session.name", msg: "__Host-"},
		{name: "host_prefix_lower_case_with_domain", cookie: with(func(c *config.SessionCookie) { c.Name = "__host-gate" }), key: "session.name", msg: "any letter case"},
		{name: "host_prefix_upper_case_with_domain", cookie: with(func(c *config.SessionCookie) { c.Name = "__HOST-gate" }), key: "session.name", msg: "__Host-"},
		{name: "host_prefix_http", cookie: config.SessionCookie{Name: "__Host-gate"}, key: "session.name", msg: "https"},
		{name: "secure_prefix_http", cookie: with(func(c *config.SessionCookie) { c.Name, c.Secure = "__Secure-gate", false }), key: "session.name", msg: "https"},
		{name: "secure_prefix_mixed_case_http", cookie: with(func(c *config.SessionCookie) { c.Name, c.Secure = "__sEcUrE-gate", false }), key: "session.name", msg: "https"},
		{name: "same_site_none_http", cookie: with(func(c *config.SessionCookie) { c.SameSiteNone, c.Secure = true, false }), key: "session.same_site", msg: "https"},
		{name: "bad_domain", cookie: with(func(c *config.SessionCookie) { c.Domain = "exa mple.com" }), key: "session.domain", msg: "invalid domain"},
		{name: "underscore_domain", cookie: with(func(c *config.SessionCookie) { c.Domain = "a_b.example.com" }), key: "session.domain", msg: "'_'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cookie.Check()
			if tt.key == "" {
				if err != nil {
					t.Errorf("Check() = %v; want nil", err)
				}
				return
			}
			wantProblem(t, err, tt.key, tt.msg)
		})
	}
}

// Validate applies the same check to the configuration.
func TestValidateChecksTheSessionCookie(t *testing.T) {
	c := validConfig(t)
	c.Session.Name = "__host-gate"
	wantProblem(t, c.Validate(), "session.name", "__Host-")
	if err := c.SessionCookie().Check(); err == nil {
		t.Error("SessionCookie().Check() = nil for a configuration Validate refuses")
	}
}
