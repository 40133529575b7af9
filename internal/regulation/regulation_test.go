package regulation_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"gate/internal/config"
	"gate/internal/regulation"
	"gate/internal/session/sessiontest"
)

const secret = "a-session-secret-of-at-least-32-characters"

// newClock is a fake clock that tests move by hand.
func newClock() *sessiontest.Clock {
	return sessiontest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
}

var cfg = config.Regulation{MaxRetries: 3, FindTime: 2 * time.Minute, BanTime: 5 * time.Minute}

var (
	ip1 = netip.MustParseAddr("198.51.100.7")
	ip2 = netip.MustParseAddr("198.51.100.8")
)

func newRegulator(tb testing.TB, c config.Regulation) (*regulation.Regulator, *regulation.MemoryCounters, *sessiontest.Clock) {
	tb.Helper()
	clk := newClock()
	mc := regulation.NewMemoryCounters(regulation.MemoryOptions{Now: clk.Now})
	r, err := regulation.New(c, mc, secret)
	if err != nil {
		tb.Fatal(err)
	}
	return r, mc, clk
}

func check(tb testing.TB, r *regulation.Regulator, user string, client netip.Addr) time.Duration {
	tb.Helper()
	d, err := r.Check(context.Background(), user, client)
	if err != nil {
		tb.Fatalf("Check: %v", err)
	}
	return d
}

func fail(tb testing.TB, r *regulation.Regulator, user string, client netip.Addr) {
	tb.Helper()
	if err := r.Fail(context.Background(), user, client); err != nil {
		tb.Fatalf("Fail: %v", err)
	}
}

func TestBanAfterMaxRetries(t *testing.T) {
	r, _, clk := newRegulator(t, cfg)
	for i := 1; i < cfg.MaxRetries; i++ {
		fail(t, r, "alice", ip1)
		if d := check(t, r, "alice", ip1); d != 0 {
			t.Fatalf("after %d failures: banned for %v; want not banned", i, d)
		}
		clk.Advance(10 * time.Second)
	}
	fail(t, r, "alice", ip1)
	if got, want := check(t, r, "alice", ip1), cfg.BanTime; got != want {
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
	if d := check(t, r, "alice", fresh); d <= 0 {
		t.Error("username banned but a fresh address is let through")
	}
	if d := check(t, r, "ALICE", fresh); d <= 0 {
		t.Error("a ban on alice does not hold for ALICE")
	}
	if d := check(t, r, "bob", fresh); d != 0 {
		t.Errorf("bob from a fresh address: banned for %v; want not banned", d)
	}
}

func TestBanByClientAlone(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	// Password spraying: one address, a different user each time.
	for _, u := range []string{"alice", "bob", "carol"} {
		fail(t, r, u, ip1)
	}
	if d := check(t, r, "dave", ip1); d <= 0 {
		t.Error("client banned but a fresh username is let through")
	}
	if d := check(t, r, "dave", ip2); d != 0 {
		t.Errorf("dave from another address: banned for %v; want not banned", d)
	}
	if d := check(t, r, "dave", netip.MustParseAddr("::ffff:198.51.100.7")); d <= 0 {
		t.Error("the IPv4-mapped form of a banned address is let through")
	}
}

func TestBanByIPv6Prefix(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	for i, u := range []string{"alice", "bob", "carol"} {
		fail(t, r, u, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
	}
	if d := check(t, r, "dave", netip.MustParseAddr("2001:db8::ffff:1")); d <= 0 {
		t.Error("another address of a banned /64 is let through")
	}
	if d := check(t, r, "dave", netip.MustParseAddr("2001:db8:0:1::1")); d != 0 {
		t.Errorf("an address of the next /64: banned for %v; want not banned", d)
	}
}

func TestBanExpires(t *testing.T) {
	r, _, clk := newRegulator(t, cfg)
	for range cfg.MaxRetries {
		fail(t, r, "alice", ip1)
	}
	clk.Advance(cfg.BanTime - time.Second)
	if got, want := check(t, r, "alice", ip1), time.Second; got != want {
		t.Errorf("one second before the end: ban = %v; want %v", got, want)
	}
	clk.Advance(time.Second)
	if d := check(t, r, "alice", ip1); d != 0 {
		t.Errorf("after ban_time: banned for %v; want not banned", d)
	}
}

func TestBanNotExtended(t *testing.T) {
	r, _, clk := newRegulator(t, config.Regulation{MaxRetries: 2, FindTime: time.Hour, BanTime: 5 * time.Minute})
	fail(t, r, "alice", ip1)
	fail(t, r, "alice", ip1)
	clk.Advance(4 * time.Minute)
	// A failure recorded during the ban (a caller that skipped Check) does
	// not push the end of the ban back.
	fail(t, r, "alice", ip1)
	if got, want := check(t, r, "alice", ip1), time.Minute; got != want {
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
	if d := check(t, r, "alice", ip1); d != 0 {
		t.Errorf("failures spread over more than find_time: banned for %v; want not banned", d)
	}
}

func TestSucceedResetsUsername(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	for range cfg.MaxRetries - 1 {
		fail(t, r, "alice", ip1)
	}
	if err := r.Succeed(context.Background(), "Alice"); err != nil {
		t.Fatal(err)
	}
	for range cfg.MaxRetries - 1 {
		fail(t, r, "alice", ip2)
	}
	if d := check(t, r, "alice", ip2); d != 0 {
		t.Errorf("after a success: banned for %v; want the count restarted", d)
	}
	// The first address's count survives the user's success.
	fail(t, r, "mallory", ip1)
	if d := check(t, r, "someone", ip1); d <= 0 {
		t.Error("a success reset the client's failures; want them kept")
	}
}

func TestSucceedKeepsBan(t *testing.T) {
	r, _, _ := newRegulator(t, cfg)
	for range cfg.MaxRetries {
		fail(t, r, "alice", ip1)
	}
	if err := r.Succeed(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if d := check(t, r, "alice", ip2); d <= 0 {
		t.Error("Succeed lifted a running ban")
	}
}

func TestDisabled(t *testing.T) {
	r, err := regulation.New(config.Regulation{MaxRetries: 0}, nil, secret)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := r.Fail(context.Background(), "alice", ip1); err != nil {
			t.Fatal(err)
		}
	}
	if d := check(t, r, "alice", ip1); d != 0 {
		t.Errorf("disabled: banned for %v; want 0", d)
	}
	if err := r.Succeed(context.Background(), "alice"); err != nil {
		t.Error(err)
	}
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
	r2, err := regulation.New(cfg, mc2, secret+"-other")
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

// errCounters fails every call.
type errCounters struct{}

var errDown = errors.New("store down")

func (errCounters) Fail(context.Context, string, time.Duration) (int64, error) { return 0, errDown }
func (errCounters) Ban(context.Context, string, time.Duration) error           { return errDown }
func (errCounters) Banned(context.Context, string) (time.Duration, error)      { return 0, errDown }
func (errCounters) Reset(context.Context, string) error                        { return errDown }

func TestStoreErrorsReturned(t *testing.T) {
	r, err := regulation.New(cfg, errCounters{}, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Check(ctx, "alice", ip1); !errors.Is(err, errDown) {
		t.Errorf("Check: err = %v; want the store error", err)
	}
	if err := r.Fail(ctx, "alice", ip1); !errors.Is(err, errDown) {
		t.Errorf("Fail: err = %v; want the store error", err)
	}
	if err := r.Succeed(ctx, "alice"); !errors.Is(err, errDown) {
		t.Errorf("Succeed: err = %v; want the store error", err)
	}
}

func TestNew_errors(t *testing.T) {
	mc := regulation.NewMemoryCounters(regulation.MemoryOptions{})
	tests := []struct {
		name     string
		cfg      config.Regulation
		counters regulation.Counters
		want     string
	}{
		{"negative_retries", config.Regulation{MaxRetries: -1}, mc, "regulation.max_retries"},
		{"zero_find_time", config.Regulation{MaxRetries: 3, BanTime: time.Minute}, mc, "regulation.find_time"},
		{"zero_ban_time", config.Regulation{MaxRetries: 3, FindTime: time.Minute}, mc, "regulation.ban_time"},
		{"no_store", cfg, nil, "no counter store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := regulation.New(tt.cfg, tt.counters, secret)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: err = %v; want it to contain %q", err, tt.want)
			}
		})
	}
}
