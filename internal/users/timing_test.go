package users_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"gate/internal/users"
)

// TestAuthenticateTiming: a failed login takes as long as a successful
// one, whatever the user and its hash (user enumeration by timing). The
// file holds cheap argon2id users (1 MiB, about 1-3 ms a check) and a
// bcrypt user of cost timingBcryptCost (several times that), so that the
// test is quick and yet, without padding, the argon2id users and an
// unknown user (whose dummy would be of the most common kind) answer in a
// fraction of the bcrypt user's time.
//
// Tries go round the kinds in turn, 30 rounds. A loaded machine's speed
// drifts from one round to the next, which moves every kind of one round
// alike: each try is therefore compared with its own round, as its time
// less the median time of that round, and a kind's offset is the median of
// those over the 30 rounds. The offsets must lie within a third of the
// median try of each other. Without padding they lie more than a whole
// median try apart (the bcrypt and unknown users against the argon2id
// ones); padded, within a few percent, also with the two cores kept busy
// by other work. A third leaves room both ways: for timer overshoot and
// a loaded machine's scheduling, and for telling padded from unpadded.
func TestAuthenticateTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test in -short mode")
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("bob-pw"), timingBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := open(t, fmt.Sprintf(`users:
  alice: {password: '%s'}
  bob: {password: '%s'}
  carol: {password: '%s', disabled: true}
  dave: {password: '%s'}
`, cheapHash(t, "alice-pw"), bc, cheapHash(t, "carol-pw"), cheapHash(t, "dave-pw")), false)

	kinds := []struct {
		name, user, password string
		wantErr              error
	}{
		{"unknown_user", "mallory", "alice-pw", users.ErrInvalidCredentials},
		{"argon2id_user", "alice", "wrong", users.ErrInvalidCredentials},
		{"bcrypt_user", "bob", "wrong", users.ErrInvalidCredentials},
		{"disabled_user", "carol", "carol-pw", users.ErrInvalidCredentials},
		{"argon2id_user_right_password", "alice", "alice-pw", nil},
	}
	const rounds = 30
	times := make([][]time.Duration, len(kinds))
	for range rounds {
		for i, k := range kinds {
			t0 := time.Now()
			_, err := f.Authenticate(context.Background(), k.user, k.password)
			times[i] = append(times[i], time.Since(t0))
			if !errors.Is(err, k.wantErr) || (k.wantErr == nil && err != nil) {
				t.Fatalf("%s: err = %v; want %v", k.name, err, k.wantErr)
			}
		}
	}
	offsets := make([]time.Duration, len(kinds))
	var all []time.Duration
	for i := range kinds {
		var d []time.Duration
		for r := range rounds {
			d = append(d, times[i][r]-median(column(times, r)))
		}
		offsets[i] = median(d)
		all = append(all, times[i]...)
	}
	level := median(all)
	lo, hi := slices.Min(offsets), slices.Max(offsets)
	tolerance := level / 3
	for i, k := range kinds {
		t.Logf("%-30s median %8v, offset from its rounds %8v", k.name, median(times[i]).Round(10*time.Microsecond), offsets[i].Round(10*time.Microsecond))
	}
	if hi-lo > tolerance {
		t.Errorf("offsets span %v to %v; want within %v (a third of the median try, %v) of each other", lo, hi, tolerance, level)
	}
}

// column is the r-th try of every kind: one round.
func column(times [][]time.Duration, r int) []time.Duration {
	c := make([]time.Duration, len(times))
	for i := range times {
		c[i] = times[i][r]
	}
	return c
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
