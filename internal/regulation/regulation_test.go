package regulation_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gate/internal/config"
	"gate/internal/regulation"
	"gate/internal/testkit"
)

// key names counters; otherKey is another instance's, under another
// session.secret.
var (
	key      = []byte("a-regulation-key-of-32-bytes-....")
	otherKey = []byte("another-regulation-key-of-32-b..")
)

// newClock is a fake clock that tests move by hand.
func newClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
}

var cfg = config.Regulation{MaxRetries: 3, FindTime: 2 * time.Minute, BanTime: 5 * time.Minute}

var (
	ip1 = netip.MustParseAddr("198.51.100.7")
	ip2 = netip.MustParseAddr("198.51.100.8")
)

func newRegulator(tb testing.TB, c config.Regulation) (*regulation.Regulator, *regulation.MemoryCounters, *testkit.Clock) {
	tb.Helper()
	clk := newClock()
	mc := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now})
	r, err := regulation.New(c, mc, key)
	if err != nil {
		tb.Fatal(err)
	}
	return r, mc, clk
}

// begin starts an attempt that must be admitted.
func begin(tb testing.TB, r *regulation.Regulator, user string, client netip.Addr) *regulation.Attempt {
	tb.Helper()
	a, wait, err := r.Begin(context.Background(), user, client)
	if err != nil {
		tb.Fatalf("Begin: %v", err)
	}
	if a == nil {
		tb.Fatalf("Begin(%s, %s) refused for %v; want admitted", user, client, wait)
	}
	return a
}

// refused reports how long an attempt is refused, 0 if it is admitted (and
// then abandoned, leaving nothing behind).
func refused(tb testing.TB, r *regulation.Regulator, user string, client netip.Addr) time.Duration {
	tb.Helper()
	a, wait, err := r.Begin(context.Background(), user, client)
	if err != nil {
		tb.Fatalf("Begin: %v", err)
	}
	if a != nil {
		if err := a.Abandon(context.Background()); err != nil {
			tb.Fatalf("Abandon: %v", err)
		}
		return 0
	}
	if wait <= 0 {
		tb.Fatalf("Begin refused with wait %v; want a positive Retry-After", wait)
	}
	return wait
}

// fail makes one attempt with a wrong password.
func fail(tb testing.TB, r *regulation.Regulator, user string, client netip.Addr) {
	tb.Helper()
	if err := begin(tb, r, user, client).Fail(context.Background()); err != nil {
		tb.Fatalf("Fail: %v", err)
	}
}

// succeed makes one attempt with the right password.
func succeed(tb testing.TB, r *regulation.Regulator, user string, client netip.Addr) {
	tb.Helper()
	if err := begin(tb, r, user, client).Succeed(context.Background()); err != nil {
		tb.Fatalf("Succeed: %v", err)
	}
}

func TestBanAfterMaxRetries(t *testing.T) {
	r, _, clk := newRegulator(t, cfg)
	for i := 1; i < cfg.MaxRetries; i++ {
		fail(t, r, "alice", ip1)
		if d := refused(t, r, "alice", ip1); d != 0 {
			t.Fatalf("after %d failures: refused for %v; want admitted", i, d)
		}
		clk.Advance(10 * time.Second)
	}
	fail(t, r, "alice", ip1)
	if got, want := refused(t, r, "alice", ip1), cfg.BanTime; got != want {
		t.Errorf("after %d failures: ban = %v; want %v", cfg.MaxRetries, got, want)
	}
}

func TestBanByUsernameAlone(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	// One password tried from many addresses against one user.
	for i := range cfg.MaxRetries {
		fail(t, r, "alice", netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
	}
	fresh := netip.MustParseAddr("192.0.2.1")
	if d := refused(t, r, "alice", fresh); d <= 0 {
		t.Error("username banned but a fresh address is let through")
	}
	if d := refused(t, r, "ALICE", fresh); d <= 0 {
		t.Error("a ban on alice does not hold for ALICE")
	}
	if d := refused(t, r, "bob", fresh); d != 0 {
		t.Errorf("bob from a fresh address: refused for %v; want admitted", d)
	}
}

func TestBanByClientAlone(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	// Password spraying: one address, a different user each time.
	for _, u := range []string{"alice", "bob", "carol"} {
		fail(t, r, u, ip1)
	}
	if d := refused(t, r, "dave", ip1); d <= 0 {
		t.Error("client banned but a fresh username is let through")
	}
	if d := refused(t, r, "dave", ip2); d != 0 {
		t.Errorf("dave from another address: refused for %v; want admitted", d)
	}
	if d := refused(t, r, "dave", netip.MustParseAddr("::ffff:198.51.100.7")); d <= 0 {
		t.Error("the IPv4-mapped form of a banned address is let through")
	}
}

func TestBanByIPv6Prefix(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	for i, u := range []string{"alice", "bob", "carol"} {
		fail(t, r, u, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
	}
	if d := refused(t, r, "dave", netip.MustParseAddr("2001:db8::ffff:1")); d <= 0 {
		t.Error("another address of a banned /64 is let through")
	}
	if d := refused(t, r, "dave", netip.MustParseAddr("2001:db8:0:1::1")); d != 0 {
		t.Errorf("an address of the next /64: refused for %v; want admitted", d)
	}
}

func TestBanExpires(t *testing.T) {
	r, _, clk := newRegulator(t, cfg)
	for range cfg.MaxRetries {
		fail(t, r, "alice", ip1)
	}
	clk.Advance(cfg.BanTime - time.Second)
	if got, want := refused(t, r, "alice", ip1), time.Second; got != want {
		t.Errorf("one second before the end: ban = %v; want %v", got, want)
	}
	clk.Advance(time.Second)
	if d := refused(t, r, "alice", ip1); d != 0 {
		t.Errorf("after ban_time: refused for %v; want admitted", d)
	}
}

func TestBanNotExtended(t *testing.T) {
	r, _, clk := newRegulator(t, config.Regulation{MaxRetries: 2, FindTime: time.Hour, BanTime: 5 * time.Minute})
	fail(t, r, "alice", ip1)
	fail(t, r, "alice", ip1)
	for range 4 {
		clk.Advance(time.Minute)
		if d := refused(t, r, "alice", ip1); d <= 0 {
			t.Fatal("an attempt during the ban was admitted")
		}
	}
	if got, want := refused(t, r, "alice", ip1), time.Minute; got != want {
		t.Errorf("ban = %v; want %v, the original end", got, want)
	}
}

func TestFailureWindowExpires(t *testing.T) {
	r, _, clk := newRegulator(t, cfg)
	for range cfg.MaxRetries - 1 {
		fail(t, r, "alice", ip1)
	}
	clk.Advance(cfg.FindTime)
	fail(t, r, "alice", ip1)
	if d := refused(t, r, "alice", ip1); d != 0 {
		t.Errorf("failures spread over more than find_time: refused for %v; want admitted", d)
	}
}

func TestSucceedResetsUsername(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	for range cfg.MaxRetries - 1 {
		fail(t, r, "alice", ip1)
	}
	succeed(t, r, "Alice", ip2)
	for range cfg.MaxRetries - 1 {
		fail(t, r, "alice", ip2)
	}
	if d := refused(t, r, "alice", netip.MustParseAddr("192.0.2.9")); d != 0 {
		t.Errorf("after a success: refused for %v; want the count restarted", d)
	}
	// The first address's count survives the user's success.
	fail(t, r, "mallory", ip1)
	if d := refused(t, r, "someone", ip1); d <= 0 {
		t.Error("a success reset the client's failures; want them kept")
	}
}

func TestAttemptsInFlightCount(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	var open []*regulation.Attempt
	for range cfg.MaxRetries {
		open = append(open, begin(t, r, "alice", ip1))
	}
	// No ban yet, but every slot is taken by a check in flight.
	if got, want := refused(t, r, "alice", ip2), time.Second; got != want {
		t.Errorf("with %d checks in flight: refused for %v; want %v", cfg.MaxRetries, got, want)
	}
	if err := open[0].Abandon(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Ending twice does nothing.
	if err := open[0].Fail(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := refused(t, r, "alice", ip2); d != 0 {
		t.Errorf("after one check was abandoned: refused for %v; want admitted", d)
	}
	for _, a := range open[1:] {
		if err := a.Fail(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBeginReleasesTheUsernameWhenTheClientRefuses: the two keys are
// reserved one after the other, and a refusal by the second gives the
// first back.
func TestBeginReleasesTheUsernameWhenTheClientRefuses(t *testing.T) {
	r, mc, _ := newRegulator(t, cfg)
	for _, u := range []string{"x1", "x2", "x3"} {
		fail(t, r, u, ip1)
	}
	keysBefore := mc.Len()
	for range 10 {
		if d := refused(t, r, "alice", ip1); d <= 0 {
			t.Fatal("a banned client was admitted")
		}
	}
	if got := mc.Len(); got != keysBefore {
		t.Errorf("keys = %d after refused attempts; want %d: alice's reservations were not released", got, keysBefore)
	}
	// alice's own slots are all free.
	for range cfg.MaxRetries {
		begin(t, r, "alice", ip2)
	}
}

// TestAbandonAfterTheRequestEnded: a client that hangs up cancels the
// request's context; its reservation must still be given back.
func TestAbandonAfterTheRequestEnded(t *testing.T) {
	r, mc, _ := newRegulator(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	a, _, err := r.Begin(ctx, "alice", ip1)
	if err != nil || a == nil {
		t.Fatalf("Begin = %v, %v", a, err)
	}
	cancel()
	if err := a.Abandon(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mc.Len(); got != 0 {
		t.Errorf("keys = %d; want 0", got)
	}
}

// TestConcurrentAttempts is the limit under concurrency: 15 wrong
// passwords and the right one at once, max_retries 3. Each admitted
// attempt is held until every one of the 16 is admitted or refused, so
// that none ends before the others begin. At most 3 passwords are
// checked; the rest are refused.
func TestConcurrentAttempts(t *testing.T) {
	for _, sameClient := range []bool{true, false} {
		name := "one_client"
		if !sameClient {
			name = "many_clients"
		}
		t.Run(name, func(t *testing.T) {
			r, _, _ := newRegulator(t, cfg)
			const n = 16
			var (
				checked, wrongChecked, refusals atomic.Int64
				decided                         sync.WaitGroup
				wg                              sync.WaitGroup
			)
			decided.Add(n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					client := ip1
					if !sameClient {
						client = netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
					}
					<-start
					a, _, err := r.Begin(context.Background(), "alice", client)
					decided.Done()
					if err != nil {
						t.Error(err)
						return
					}
					if a == nil {
						refusals.Add(1)
						return
					}
					decided.Wait()
					checked.Add(1)
					if i == 0 { // the right password
						err = a.Succeed(context.Background())
					} else {
						wrongChecked.Add(1)
						err = a.Fail(context.Background())
					}
					if err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			if got := checked.Load(); got > int64(cfg.MaxRetries) {
				t.Errorf("%d passwords checked; want at most %d", got, cfg.MaxRetries)
			}
			if got := wrongChecked.Load(); got > int64(cfg.MaxRetries) {
				t.Errorf("%d wrong passwords checked; want at most %d", got, cfg.MaxRetries)
			}
			if got, want := refusals.Load(), n-checked.Load(); got != want {
				t.Errorf("%d refused; want %d, every attempt not checked", got, want)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	r, err := regulation.New(config.Regulation{MaxRetries: 0}, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		fail(t, r, "alice", ip1)
	}
	if d := refused(t, r, "alice", ip1); d != 0 {
		t.Errorf("disabled: refused for %v; want 0", d)
	}
	succeed(t, r, "alice", ip1)
}

func TestKeysCarryNoIdentity(t *testing.T) {
	r, mc, _ := newRegulator(t, cfg)
	fail(t, r, "alice.secret-name", netip.MustParseAddr("198.51.100.77"))
	fail(t, r, "bob", netip.MustParseAddr("2001:db8::abcd"))
	ks := mc.Keys()
	if len(ks) != 4 {
		t.Fatalf("keys = %q; want 4", ks)
	}
	for _, k := range ks {
		for _, leak := range []string{"alice", "secret", "bob", "198.51", "100.77", "2001:db8", "::abcd"} {
			if strings.Contains(k, leak) {
				t.Errorf("key %q contains %q", k, leak)
			}
		}
		if !strings.HasPrefix(k, "u:") && !strings.HasPrefix(k, "ip:") {
			t.Errorf("key %q; want a u: or ip: prefix", k)
		}
	}
	// Another secret names the same user differently.
	mc2 := regulation.NewMemoryCounters(regulation.MemoryOptions{})
	r2, err := regulation.New(cfg, mc2, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	fail(t, r2, "bob", netip.Addr{})
	for _, k := range ks {
		if k == mc2.Keys()[0] {
			t.Errorf("key %q is the same under another secret", k)
		}
	}
}

// errCounters fails the calls whose flag is set; the others go to a
// memory store.
type errCounters struct {
	*regulation.MemoryCounters
	reserveAfter int // calls of Reserve that succeed before it fails; -1 never fails
	calls        int
	failFail     bool
	releaseFails bool
	released     int
}

var errDown = errors.New("store down")

func (e *errCounters) Reserve(ctx context.Context, key string, l regulation.Limits) (time.Duration, bool, error) {
	if e.reserveAfter >= 0 && e.calls >= e.reserveAfter {
		return 0, false, errDown
	}
	e.calls++
	return e.MemoryCounters.Reserve(ctx, key, l)
}

func (e *errCounters) Fail(ctx context.Context, key string, l regulation.Limits) error {
	if e.failFail {
		return errDown
	}
	return e.MemoryCounters.Fail(ctx, key, l)
}

func (e *errCounters) Release(ctx context.Context, key string, reset bool) error {
	e.released++
	if e.releaseFails {
		return errDown
	}
	return e.MemoryCounters.Release(ctx, key, reset)
}

func TestStoreErrorsReturned(t *testing.T) {
	ctx := context.Background()
	t.Run("reserve_first_key", func(t *testing.T) {
		ec := &errCounters{MemoryCounters: regulation.NewMemoryCounters(regulation.MemoryOptions{}), reserveAfter: 0}
		r, _ := regulation.New(cfg, ec, key)
		if a, _, err := r.Begin(ctx, "alice", ip1); !errors.Is(err, errDown) || a != nil {
			t.Errorf("Begin = %v, %v; want no attempt and the store error", a, err)
		}
	})
	t.Run("reserve_second_key_releases_the_first", func(t *testing.T) {
		ec := &errCounters{MemoryCounters: regulation.NewMemoryCounters(regulation.MemoryOptions{}), reserveAfter: 1}
		r, _ := regulation.New(cfg, ec, key)
		if a, _, err := r.Begin(ctx, "alice", ip1); !errors.Is(err, errDown) || a != nil {
			t.Errorf("Begin = %v, %v; want no attempt and the store error", a, err)
		}
		if ec.released != 1 || ec.Len() != 0 {
			t.Errorf("released %d, keys left %d; want the username's key released", ec.released, ec.Len())
		}
	})
	t.Run("release_after_a_refusal", func(t *testing.T) {
		// The client is banned; giving the username's slot back fails.
		ec := &errCounters{MemoryCounters: regulation.NewMemoryCounters(regulation.MemoryOptions{}), reserveAfter: -1}
		r, _ := regulation.New(cfg, ec, key)
		for _, u := range []string{"x1", "x2", "x3"} {
			fail(t, r, u, ip1)
		}
		ec.releaseFails = true
		if a, _, err := r.Begin(ctx, "alice", ip1); !errors.Is(err, errDown) || a != nil {
			t.Errorf("Begin = %v, %v; want no attempt and the release's error", a, err)
		}
	})
	t.Run("fail", func(t *testing.T) {
		ec := &errCounters{MemoryCounters: regulation.NewMemoryCounters(regulation.MemoryOptions{}), reserveAfter: -1, failFail: true}
		r, _ := regulation.New(cfg, ec, key)
		if err := begin(t, r, "alice", ip1).Fail(ctx); !errors.Is(err, errDown) {
			t.Errorf("Fail: err = %v; want the store error", err)
		}
	})
}

func TestNew_errors(t *testing.T) {
	mc := regulation.NewMemoryCounters(regulation.MemoryOptions{})
	tests := []struct {
		name     string
		cfg      config.Regulation
		counters regulation.Counters
		want     string
	}{
		{"no_store", cfg, nil, "no counter store"},
		{"short_key", cfg, mc, "at least 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := key
			if tt.name == "short_key" {
				k = key[:16]
			}
			_, err := regulation.New(tt.cfg, tt.counters, k)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v; want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestBeginClient: a credential without a username (an API token) counts
// under its client alone. One client's wrong tokens ban that client,
// for tokens and passwords alike, and nobody else; a success does not
// reset the client's count.
func TestBeginClient(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	ctx := context.Background()
	failClient := func(client netip.Addr) {
		t.Helper()
		a, wait, err := r.BeginClient(ctx, client)
		if err != nil || a == nil {
			t.Fatalf("BeginClient(%s) = %v, %v, %v; want admitted", client, a, wait, err)
		}
		if err := a.Fail(ctx); err != nil {
			t.Fatal(err)
		}
	}
	failClient(ip1)
	a, _, err := r.BeginClient(ctx, ip1)
	if err != nil || a == nil {
		t.Fatalf("BeginClient after one failure = %v, %v; want admitted", a, err)
	}
	if err := a.Succeed(ctx); err != nil {
		t.Fatal(err)
	}
	for range cfg.MaxRetries - 1 {
		failClient(ip1)
	}
	if a, wait, err := r.BeginClient(ctx, ip1); err != nil || a != nil || wait != cfg.BanTime {
		t.Errorf("BeginClient of a banned client = %v, %v, %v; want refused for %v", a, wait, err, cfg.BanTime)
	}
	if d := refused(t, r, "alice", ip1); d <= 0 {
		t.Error("a client banned for wrong tokens may still try passwords")
	}
	if a, _, err := r.BeginClient(ctx, ip2); err != nil || a == nil {
		t.Errorf("BeginClient of another client = %v, %v; want admitted", a, err)
	} else {
		_ = a.Abandon(ctx)
	}
	if d := refused(t, r, "alice", ip2); d != 0 {
		t.Errorf("alice from another client: refused for %v; want admitted (no user was counted)", d)
	}
}
