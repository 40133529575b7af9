// Package access decides, for one request, whether it may pass, must log in
// first, or is forbidden, from the ordered access_control rules.
//
// It owns rule compilation (domains, regexes, methods, networks, subjects,
// policies) and the normalization of request paths before resources are
// matched. It does not own sessions, users or HTTP: the caller hands it the
// original request's method, host, raw path and client address, and the
// authenticated subject if there is one.
//
// Rules are compiled once by New; Decide compiles nothing and, for a path
// that is already normal, allocates nothing.
package access
