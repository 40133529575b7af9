//go:build !race

package users_test

// timingBcryptCost is the bcrypt cost of TestAuthenticateTiming: a few
// milliseconds a check, several times the cheap argon2id hashes.
const timingBcryptCost = 6
