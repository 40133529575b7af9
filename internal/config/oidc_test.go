package config_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gate/internal/config"
)

// providerYAML is one provider item with the given extra lines.
func providerYAML(extra string) string {
	return `
authentication_backend:
  oidc:
    - id: corp
      name: Corporate SSO
      issuer: https://sso.example.net/realms/corp
      client_id: gate
      client_secret: s3cret
` + extra
}

func TestOIDCDefaults(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), providerYAML(""))
	p := c.AuthenticationBackend.OIDC[0]
	if got, want := p.Scopes, []string{"openid", "profile", "email"}; !slices.Equal(got, want) {
		t.Errorf("scopes = %q; want %q", got, want)
	}
	want := config.OIDCClaims{User: "preferred_username", Email: "email", Name: "name", Groups: "groups"}
	if p.Claims != want {
		t.Errorf("claims = %+v; want %+v", p.Claims, want)
	}
	if p.Link != config.LinkNone || len(p.Allow.EmailDomains)+len(p.Allow.Groups)+len(p.Allow.Users) != 0 {
		t.Errorf("link %q, allow %+v; want none", p.Link, p.Allow)
	}
}

func TestOIDCFull(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), providerYAML(`      scopes: [openid, email, groups]
      claims: {user: email, groups: roles}
      allow: {email_domains: [Example.COM], groups: [staff], users: [alice]}
      link: email
`))
	p := c.AuthenticationBackend.OIDC[0]
	if p.Claims.User != "email" || p.Claims.Groups != "roles" || p.Claims.Name != "name" {
		t.Errorf("claims = %+v", p.Claims)
	}
	if got := p.Allow.EmailDomains; !slices.Equal(got, []string{"example.com"}) {
		t.Errorf("email_domains = %q; want lower-cased [example.com]", got)
	}
}

// The client secret comes from the environment or a file, per item.
func TestOIDCSecretFromEnvironment(t *testing.T) {
	doc := strings.Replace(providerYAML(""), "      client_secret: s3cret\n", "", 1)
	c := mustLoad(t, map[string]string{"GATE_AUTHENTICATION_BACKEND_OIDC_0_CLIENT_SECRET": "from-env"}, baseYAML(t), doc)
	if got := c.AuthenticationBackend.OIDC[0].ClientSecret; got != "from-env" {
		t.Errorf("client_secret = %q; want from-env", got)
	}
	f := writeFile(t, t.TempDir(), "secret", "from-file\n")
	c = mustLoad(t, map[string]string{"GATE_AUTHENTICATION_BACKEND_OIDC_0_CLIENT_SECRET_FILE": f}, baseYAML(t), doc)
	if got := c.AuthenticationBackend.OIDC[0].ClientSecret; got != "from-file" {
		t.Errorf("client_secret = %q; want from-file", got)
	}
	_, err := loadYAML(t, map[string]string{"GATE_AUTHENTICATION_BACKEND_OIDC_0_CLIENT_SECRET_FILE": filepath.Join(t.TempDir(), "missing")}, baseYAML(t), doc)
	wantProblem(t, err, "authentication_backend.oidc[0].client_secret", "cannot read")
	_, err = loadYAML(t, nil, baseYAML(t), doc)
	wantProblem(t, err, "authentication_backend.oidc[0].client_secret", "required")
}

func TestOIDCProblems(t *testing.T) {
	tests := []struct {
		name, extra string
		edit        func(string) string
		key, msg    string
	}{
		{"id_upper_case", "", func(s string) string { return strings.Replace(s, "id: corp", "id: Corp", 1) }, "authentication_backend.oidc[0].id", "a-z"},
		{"id_slash", "", func(s string) string { return strings.Replace(s, "id: corp", "id: 'a/b'", 1) }, "authentication_backend.oidc[0].id", "a-z"},
		{"issuer_http", "", func(s string) string { return strings.Replace(s, "https://sso", "http://sso", 1) }, "authentication_backend.oidc[0].issuer", "https"},
		{"issuer_query", "", func(s string) string { return strings.Replace(s, "/realms/corp", "/realms/corp?x=1", 1) }, "authentication_backend.oidc[0].issuer", "query"},
		{"issuer_user_info", "", func(s string) string { return strings.Replace(s, "https://sso", "https://u:p@sso", 1) }, "authentication_backend.oidc[0].issuer", "user-info"},
		{"no_client_id", "", func(s string) string { return strings.Replace(s, "      client_id: gate\n", "", 1) }, "authentication_backend.oidc[0].client_id", "required"},
		{"no_name", "", func(s string) string { return strings.Replace(s, "      name: Corporate SSO\n", "", 1) }, "authentication_backend.oidc[0].name", "required"},
		{"scopes_without_openid", "      scopes: [profile, email]\n", nil, "authentication_backend.oidc[0].scopes", "openid"},
		{"scope_with_space", "      scopes: [openid, 'a b']\n", nil, "authentication_backend.oidc[0].scopes[1]", "scope"},
		{"link_unknown", "      link: name\n", nil, "authentication_backend.oidc[0].link", "email or user"},
		{"bad_email_domain", "      allow: {email_domains: ['*.example.com']}\n", nil, "authentication_backend.oidc[0].allow.email_domains[0]", ""},
		{"unknown_key", "      client_secrets: x\n", nil, "authentication_backend.oidc[0].client_secrets", "unknown key"},
		{"unknown_claim_key", "      claims: {username: x}\n", nil, "authentication_backend.oidc[0].claims.username", "unknown key"},
		{"duplicate_id", "    - id: corp\n      name: Again\n      issuer: https://other.example.net\n      client_id: g\n      client_secret: s\n", nil, "authentication_backend.oidc[1].id", "also the id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := providerYAML(tt.extra)
			if tt.edit != nil {
				doc = tt.edit(doc)
			}
			_, err := loadYAML(t, nil, baseYAML(t), doc)
			wantProblem(t, err, tt.key, tt.msg)
		})
	}
}

// The users file is optional once a provider is configured, and required
// without one; link needs it.
func TestOIDCWithoutUsersFile(t *testing.T) {
	noFile := strings.Replace(baseYAML(t), "authentication_backend:\n  file:\n    path: ", "x_unused: ", 1)
	noFile = noFile[:strings.Index(noFile, "x_unused")]
	mustLoad(t, nil, noFile, providerYAML(""))
	_, err := loadYAML(t, nil, noFile)
	wantProblem(t, err, "authentication_backend.file.path", "required")
	_, err = loadYAML(t, nil, noFile, providerYAML("      link: user\n"))
	wantProblem(t, err, "authentication_backend.oidc[0].link", "users file")
}

func TestParseIssuer(t *testing.T) {
	for s, ok := range map[string]bool{
		"https://sso.example.net":          true,
		"https://sso.example.net/realms/x": true,
		"http://127.0.0.1:5556":            true,
		"http://[::1]:5556/dex":            true,
		"http://localhost:8080":            true,
		"http://sso.example.net":           false,
		"http://127.0.0.1.example.net":     false,
		"ftp://sso.example.net":            false,
		"https://sso.example.net/#frag":    false,
		"":                                 false,
	} {
		if _, err := config.ParseIssuer(s); (err == nil) != ok {
			t.Errorf("ParseIssuer(%q) = %v; want ok %v", s, err, ok)
		}
	}
}
