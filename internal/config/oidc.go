package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// OIDCProvider is one item of authentication_backend.oidc: an upstream
// OpenID Connect provider users may sign in through (SPEC section 11).
type OIDCProvider struct {
	// ID names the provider in URLs (/api/oidc/<id>/…): [a-z0-9-]+.
	ID string `koanf:"id"`
	// Name is the label of the portal's button.
	Name string `koanf:"name"`
	// Issuer is the provider's issuer URL, as its discovery document and
	// its tokens' iss claim spell it.
	Issuer       string `koanf:"issuer"`
	ClientID     string `koanf:"client_id"`
	ClientSecret string `koanf:"client_secret"`
	// Scopes always include openid; default openid, profile, email.
	Scopes []string   `koanf:"scopes"`
	Claims OIDCClaims `koanf:"claims"`
	Allow  OIDCAllow  `koanf:"allow"`
	// Link is "", "email" or "user": with email or user, a provider user
	// whose verified email or name matches a users-file entry signs in as
	// that entry (its groups, its disabled flag).
	Link string `koanf:"link"`
}

// OIDCClaims names the ID token claims a gate session is built from.
type OIDCClaims struct {
	User   string `koanf:"user"`
	Email  string `koanf:"email"`
	Name   string `koanf:"name"`
	Groups string `koanf:"groups"`
}

// OIDCAllow restricts who may sign in through a provider; each given list
// must admit the user, and empty lists admit anyone the provider signs in.
type OIDCAllow struct {
	EmailDomains []string `koanf:"email_domains"`
	Groups       []string `koanf:"groups"`
	Users        []string `koanf:"users"`
}

// The values of link.
const (
	LinkNone  = ""
	LinkEmail = "email"
	LinkUser  = "user"
)

// defaultOIDCScopes are the scopes of a provider that names none.
var defaultOIDCScopes = []string{"openid", "profile", "email"}

// defaultOIDCClaims are the claims of a provider that names none.
var defaultOIDCClaims = OIDCClaims{User: "preferred_username", Email: "email", Name: "name", Groups: "groups"}

// oidcSecretEnv is the variable of provider i's client_secret:
// GATE_AUTHENTICATION_BACKEND_OIDC_0_CLIENT_SECRET (and _FILE).
func oidcSecretEnv(i int) string {
	return fmt.Sprintf("GATE_AUTHENTICATION_BACKEND_OIDC_%d_CLIENT_SECRET", i)
}

// oidcSecretLayer reads each provider's client_secret from its GATE_
// variable or the file its _FILE variable names, into raw: list items have
// no GATE_ variables of their own, and a secret should not have to sit in
// the configuration file.
func oidcSecretLayer(raw map[string]any, getenv func(string) string, ps *problems) {
	ab, _ := raw["authentication_backend"].(map[string]any)
	list, _ := ab["oidc"].([]any)
	for i, item := range list {
		p, ok := item.(map[string]any)
		if !ok {
			continue
		}
		key := fmt.Sprintf("authentication_backend.oidc[%d].client_secret", i)
		direct, file := oidcSecretEnv(i), oidcSecretEnv(i)+"_FILE"
		v, f := getenv(direct), getenv(file)
		switch {
		case v != "" && f != "":
			ps.add(key, "both %s and %s are set; set only one", direct, file)
		case v != "":
			p["client_secret"] = v
		case f != "":
			s, err := readSecretFile(f)
			if err != nil {
				ps.add(key, "%s: cannot read %s: %s", file, f, pathErr(err))
				continue
			}
			p["client_secret"] = s
		}
	}
}

// validateOIDC checks every provider and fills the defaults of the keys
// left out.
func (c *Config) validateOIDC(ps *problems) {
	seen := map[string]int{}
	for i := range c.AuthenticationBackend.OIDC {
		p := &c.AuthenticationBackend.OIDC[i]
		key := fmt.Sprintf("authentication_backend.oidc[%d]", i)
		p.applyDefaults()
		if j, dup := seen[p.ID]; dup && p.ID != "" {
			ps.add(key+".id", "%q is also the id of authentication_backend.oidc[%d]", p.ID, j)
		}
		seen[p.ID] = i
		p.validate(key, c.AuthenticationBackend.File.Path != "", ps)
	}
}

func (p *OIDCProvider) applyDefaults() {
	if len(p.Scopes) == 0 {
		p.Scopes = slices.Clone(defaultOIDCScopes)
	}
	d := defaultOIDCClaims
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&p.Claims.User, d.User}, {&p.Claims.Email, d.Email}, {&p.Claims.Name, d.Name}, {&p.Claims.Groups, d.Groups},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	for i, dom := range p.Allow.EmailDomains {
		if d, err := ParseDomain(dom); err == nil {
			p.Allow.EmailDomains[i] = d
		}
	}
}

func (p *OIDCProvider) validate(key string, haveFile bool, ps *problems) {
	if !ValidProviderID(p.ID) {
		ps.add(key+".id", "must be one or more of a-z, 0-9 and '-' (it is part of URLs), got %q", p.ID)
	}
	if strings.TrimSpace(p.Name) == "" {
		ps.add(key+".name", "required: the label of the portal's button")
	}
	if _, err := ParseIssuer(p.Issuer); err != nil {
		ps.add(key+".issuer", "%v", err)
	}
	if p.ClientID == "" {
		ps.add(key+".client_id", "required: the client id registered at the provider")
	}
	if p.ClientSecret == "" {
		ps.add(key+".client_secret", "required: the client secret registered at the provider (or GATE_AUTHENTICATION_BACKEND_OIDC_<index>_CLIENT_SECRET_FILE)")
	}
	if !slices.Contains(p.Scopes, "openid") {
		ps.add(key+".scopes", "must include openid")
	}
	for j, s := range p.Scopes {
		if !IsToken(s) {
			ps.add(fmt.Sprintf("%s.scopes[%d]", key, j), "must be one scope name without spaces, got %q", s)
		}
	}
	for j, d := range p.Allow.EmailDomains {
		if _, err := ParseDomain(d); err != nil {
			ps.add(fmt.Sprintf("%s.allow.email_domains[%d]", key, j), "%v", err)
		}
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"groups", p.Allow.Groups}, {"users", p.Allow.Users}} {
		for j, v := range l.list {
			if v == "" {
				ps.add(fmt.Sprintf("%s.allow.%s[%d]", key, l.name, j), "must not be empty")
			}
		}
	}
	switch p.Link {
	case LinkNone:
	case LinkEmail, LinkUser:
		if !haveFile {
			ps.add(key+".link", "needs authentication_backend.file: link takes the users file's entry")
		}
	default:
		ps.add(key+".link", "must be email or user, or left out, got %q", p.Link)
	}
}

// ValidProviderID reports whether id may name a provider: [a-z0-9-]+.
func ValidProviderID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ParseIssuer parses an issuer URL: https, or http only for a loopback
// host (a provider on the same machine, in development and tests), with no
// user-info, query or fragment. Over plain http to another host, anyone on
// the path could replace the provider's keys and sign users in.
func ParseIssuer(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("required: the provider's issuer URL")
	}
	u, err := ParseSiteURL(s)
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, fmt.Errorf("must have no query or fragment, got %q", s)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("must be https (http only for a loopback host), got %q", s)
	}
	return u, nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
