// Package users reads the Authelia-compatible users file, keeps a parsed
// snapshot of it for lock-free lookups on the authorization hot path, and
// verifies passwords against argon2id and bcrypt hashes.
//
// It owns the file format, hash parsing and verification, and reloading on
// change. It does not own sessions, login regulation or HTTP: callers ask
// Lookup whether a user still exists and is enabled, and Authenticate whether
// a password is right.
//
// Password hashes never leave the package: User carries no hash, and errors
// name the file, the user and the key, never the hash itself.
package users
