//go:build race

package users_test

// timingBcryptCost is the bcrypt cost of TestAuthenticateTiming. The race
// detector slows bcrypt, pure Go, about tenfold, and argon2id, assembly,
// not at all: the cheapest cost keeps the test short and bcrypt still
// the slowest kind.
const timingBcryptCost = 4
