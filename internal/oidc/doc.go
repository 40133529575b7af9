// Package oidc signs users in through upstream OpenID Connect providers
// (SPEC section 11): discovery with back-off, the authorization code flow
// with PKCE, state and nonce, ID token verification (go-oidc: JWKS
// signature, iss, aud, exp), the mapping of claims to a gate user with the
// allow lists and users-file links, and back-channel logout tokens.
//
// It owns the flow's state records (StateStore, in memory or in Redis
// under <state_prefix>oidc:, sealed with AES-256-GCM bound to their key
// name) but not sessions or cookies: internal/http
// turns a verified identity into a session exactly as a password login
// does, and asks the session store to end the sessions a logout token
// names. It never logs or keeps tokens or codes.
package oidc
