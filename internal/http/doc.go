// Package http owns gate's HTTP surface: the chi router, the authz endpoints
// of each proxy dialect, the login portal and its API, middleware, and the
// parsing of forwarding headers. Decisions are made by plain functions and by
// the access, session and users packages; handlers only translate between
// HTTP and those.
package http
