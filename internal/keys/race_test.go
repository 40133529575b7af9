//go:build race

package keys_test

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts of pooled code are not checked under it.
const raceEnabled = true
