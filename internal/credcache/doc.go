// Package credcache is the verified-credential cache (SPEC section 9): it
// remembers, for a while, that a Basic credential passed its password
// check, so that one argon2id check serves every request of a credential
// for the cache period — on one instance (Memory) or on every instance
// sharing a Redis (Redis). It stores only keys the caller derived with an
// HMAC over the user, the password and the user's current password hash:
// never a name, a password or a hash, and a changed password hash gives
// another key, so the old entry is simply never found again.
//
// Group serves concurrent first uses of one credential with one check.
package credcache
