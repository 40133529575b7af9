// Package keys derives independent keys from session.secret, one per
// purpose, so that a key leaked from one use (say, a Redis key hash) says
// nothing about another (the cookie's encryption key). MAC computes the
// HMACs that name stored state under one of them, reusing hash states on
// the authz hot path.
package keys
