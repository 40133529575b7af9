// Package redisprobe tells when a Redis server serves again, as an
// operator's own probe sees it: a PING on a fresh, unauthenticated
// connection answered +PONG. The fault harness and the recovery tests
// measure gate's recovery against it; gate itself does not use it.
package redisprobe
