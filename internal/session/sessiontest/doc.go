// Package sessiontest holds the behaviour every session.Store must show,
// as one suite each store's tests run, and the fake clock the suite drives
// expiry with. It knows nothing of any store's internals: a store that
// hashes its keys, encrypts its records or lives in Redis passes the same
// tests as the memory store.
package sessiontest
