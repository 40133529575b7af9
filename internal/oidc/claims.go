package oidc

import (
	"slices"
	"strings"

	"gate/internal/config"
	"gate/internal/users"
)

// identity is what the ID token says of the user, through the configured
// claim names.
type identity struct {
	Subject, SID  string
	User          string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
}

// identityOf reads the claims. A claim of the wrong type counts as absent.
func identityOf(subject string, claims map[string]any, names config.OIDCClaims) identity {
	id := identity{Subject: subject}
	id.SID, _ = claims["sid"].(string)
	id.User, _ = claims[names.User].(string)
	id.Email, _ = claims[names.Email].(string)
	id.Name, _ = claims[names.Name].(string)
	id.EmailVerified = truthy(claims["email_verified"])
	id.Groups = stringList(claims[names.Groups])
	return id
}

// truthy reads email_verified, which some providers send as a string.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

// stringList reads groups from a list of strings or from one string (one
// group); anything else, and empty names, are dropped.
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		if x != "" {
			return []string{x}
		}
	case []any:
		out := make([]string, 0, len(x))
		for _, item := range x {
			if s, ok := item.(string); ok && s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// maxClaim bounds the user, email, name and each group we take into a
// session, and maxGroups the number of groups: a provider's claims end up
// in the session record and in headers on every request.
const (
	maxClaim  = 256
	maxGroups = 256
)

// admit checks the identity against the provider's allow lists and links
// it to the users file when link says so.
func (p *Provider) admit(id identity) (*Result, error) {
	if id.Subject == "" {
		return nil, refused("the ID token has no sub", nil)
	}
	if id.User == "" {
		return nil, refused("the ID token has no "+p.cfg.Claims.User+" claim (claims.user)", nil)
	}
	if !headerSafe(id.User) || !headerSafe(id.Email) || !headerSafe(id.Name) {
		return nil, refused("a claim is too long or has control characters", nil)
	}
	if len(id.Groups) > maxGroups {
		return nil, refused("more groups than gate takes", nil)
	}
	for _, g := range id.Groups {
		if !headerSafe(g) || strings.Contains(g, ",") {
			return nil, refused("a group is too long, has a comma or control characters", nil)
		}
	}
	if reason := p.allowed(id); reason != "" {
		return nil, refused(reason, nil)
	}
	res := &Result{Subject: id.Subject, SID: id.SID}
	if u, ok, reason := p.link(id); reason != "" {
		return nil, refused(reason, nil)
	} else if ok {
		res.User, res.Linked = u, true
		return res, nil
	}
	// Unlinked, the provider's user is another user than a users-file
	// entry of its name, yet downstream both would be one Remote-User and
	// one subject user:<name>: a provider account named like the file's
	// admin would pass as that admin (privilege escalation). The name is
	// the file's, disabled entries included.
	if p.nameTaken(id.User) {
		return nil, refused(reasonNameTaken, nil)
	}
	res.User = users.User{Name: id.User, DisplayName: id.Name, Email: id.Email, Groups: id.Groups}
	if !id.EmailVerified {
		// An unverified email is the user's say-so, not the provider's:
		// it is not passed on as Remote-Email.
		res.User.Email = ""
	}
	return res, nil
}

// reasonNameTaken is the refusal of an unlinked provider user whose name
// is a users-file entry's.
const reasonNameTaken = "the users file has an entry of this name; set link: user or link: email to take it"

// nameTaken reports whether the users file has an entry called name up to
// letter case, disabled or not.
func (p *Provider) nameTaken(name string) bool {
	if p.opts.Users == nil {
		return false
	}
	return p.opts.Users.NameTaken(name)
}

// headerSafe: what goes into Remote-* headers must be short and free of
// control characters (header injection through a provider's claims).
func headerSafe(s string) bool {
	if len(s) > maxClaim {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// allowed returns why the allow lists refuse id, or "" when they admit it.
// Each given list must admit the user; an email domain counts only for a
// verified email.
func (p *Provider) allowed(id identity) string {
	a := p.cfg.Allow
	if len(a.Users) > 0 && !slices.Contains(a.Users, id.User) {
		return "allow.users does not name the user"
	}
	if len(a.Groups) > 0 && !slices.ContainsFunc(id.Groups, func(g string) bool { return slices.Contains(a.Groups, g) }) {
		return "allow.groups names none of the user's groups"
	}
	if len(a.EmailDomains) > 0 {
		if !id.EmailVerified {
			return "allow.email_domains needs a verified email, and the provider did not verify it"
		}
		at := strings.LastIndexByte(id.Email, '@')
		if at < 0 || !slices.Contains(a.EmailDomains, strings.ToLower(id.Email[at+1:])) {
			return "allow.email_domains does not name the email's domain"
		}
	}
	return ""
}

// link finds the users-file entry the identity is linked to: with link:
// email the one entry with the provider's verified email, with link: user
// the entry named like the provider's user. ok is false when nothing links
// (the provider's identity stands on its own); reason is set when an entry
// matches but may not sign in: it is disabled (the provider must not
// stand in for it), or several entries share the email.
func (p *Provider) link(id identity) (u users.User, ok bool, reason string) {
	dir := p.opts.Users
	switch p.cfg.Link {
	case config.LinkEmail:
		if !id.EmailVerified || id.Email == "" {
			return users.User{}, false, ""
		}
		var n int
		u, n = dir.EntryByEmail(id.Email)
		switch {
		case n > 1:
			return users.User{}, false, "link: email: several users-file entries have the email"
		case n == 0:
			return users.User{}, false, ""
		}
	case config.LinkUser:
		if u, ok = dir.Entry(id.User); !ok {
			return users.User{}, false, ""
		}
	default:
		return users.User{}, false, ""
	}
	if u.Disabled {
		return users.User{}, false, "link: the users-file entry " + u.Name + " is disabled"
	}
	return u, true, ""
}
