// Package cookie encodes session IDs into signed, encrypted cookies; it never
// sees session data.
//
// It owns the cookie's keys and every attribute (Domain, Path, HttpOnly,
// Secure, SameSite, Max-Age) in one place, so no handler can set a session
// cookie differently. The id it carries is opaque here: whether a session
// with that id exists, and whether it is still live, is the session store's
// business.
//
// Whether browsers accept the cookie at all (its name, the __Host- and
// __Secure- prefixes in any letter case, its Domain, SameSite=None without
// Secure) is config.SessionCookie.Check, the one check of it, which New
// runs: configuration validation and the codec cannot disagree.
package cookie
