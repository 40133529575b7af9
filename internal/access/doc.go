// Package access decides, for one request, whether it may pass, must log in
// first, or is forbidden, from the ordered access_control rules.
//
// It owns matching the rules, the warnings about rule sets that let in
// what they seem to keep out (Rules.Warnings), and the normalization of
// request paths before paths and resources are matched. The rules' values
// (domains, regexes, methods, networks, subjects, policies) are parsed by
// package config (AccessControl.Parsed), the same parse Validate reports
// from, and "is this host under the session domain" is
// config.WithinDomain. It does not own sessions, users or HTTP:
// the caller hands it the original request's method, host, raw path and
// client address, and the authenticated subject if there is one.
//
// # Which path a rule judges
//
// A proxy forwards the path as the client spelled it, and the backend
// behind it decides what that spelling means. gate cannot know which
// backend that is, so it judges the path as the most lenient common one
// would serve it (NormalizePath: nginx serving files, a WSGI app, Go's
// net/http, Tomcat or Jetty, Express), and refuses outright what they read
// too differently to judge once (CheckPath: NUL, %u escapes, overlong
// UTF-8). Where two common readings differ in the resource reached, both
// are judged and the stricter decision wins: a dot segment is resolved by
// nginx, Go and Tomcat but kept in place by routers that match the raw
// path (Express, a WSGI app's routes), so /admin/../public is judged both
// as /public and as a path under /admin.
//
// Known gaps, left to the operator because closing them would misjudge
// ordinary requests: letter case (Express's router and Windows or macOS
// file systems serve /ADMIN as /admin; write '(?i)^/admin' for them), and
// Windows' trailing dots and spaces (/admin. is /admin to IIS).
//
// Rules are built once by New, from regexes compiled once by config;
// Decide compiles nothing and, for a path that is already normal,
// allocates nothing.
package access
