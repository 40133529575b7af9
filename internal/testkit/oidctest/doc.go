// Package oidctest runs a real OpenID Connect provider in-process for
// tests: zitadel's certified op package with its example storage, on a
// free loopback port, over http (allowed for loopback issuers).
//
// A test starts one with Start, registers users with AddUser, picks who
// the next sign-ins complete as with SignInAs (the provider's login step
// completes by itself, without a page, so a browser or an HTTP client just
// follows redirects), and points the client's redirect URIs at gate with
// SetRedirectURIs. For attack tests it can answer error=access_denied
// (Deny), replace the ID tokens its token endpoint answers
// (RewriteIDTokens with Sign, SignForeign and Tamper), sign back-channel
// logout tokens (LogoutToken), and play dead (SetDown: every endpoint
// answers 503, discovery included).
//
// Authorize follows a browser's redirects from an authorization URL to the
// provider's redirect back to the client, for in-process tests without a
// browser.
package oidctest
