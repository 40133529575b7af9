package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the harness run this test binary as its floor servers, as
// it runs its own binary.
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == "floor" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestFloors drives both floors for a short round and checks the table and
// the profiles; the gate targets are left out, as building gate takes long.
func TestFloors(t *testing.T) {
	prof := t.TempDir()
	var out strings.Builder
	err := run([]string{"-rounds", "2", "-duration", "200ms", "-conns", "4", "-sessions", "10",
		"-targets", "floor,identity", "-burst", "0", "-profile", prof}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, name := range []string{"floor", "floor+headers"} {
		row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(name) + ` \| ([0-9]+) \| [0-9.]+ \| [0-9.]+ \| .* \| 0 \| .* MiB \| [0-9.]+ \+ — \+ [0-9.]+ \| — \|$`)
		m := row.FindStringSubmatch(out.String())
		if m == nil || m[1] == "0" {
			t.Errorf("no row with a rate and no errors for %s in:\n%s", name, out.String())
		}
	}
	if !regexp.MustCompile(`(?m)^floor\+headers × floor, round by round: [0-9.]+ to [0-9.]+$`).MatchString(out.String()) {
		t.Errorf("no round-by-round spread for floor+headers in:\n%s", out.String())
	}
	for _, f := range []string{"client.cpu.pprof", "floor.cpu.pprof", "floor.heap.pprof", "floor-identity.allocs.pprof"} {
		if st, err := os.Stat(filepath.Join(prof, f)); err != nil || st.Size() == 0 {
			t.Errorf("profile %s missing or empty: %v", f, err)
		}
	}
}

func TestRoundRatios(t *testing.T) {
	round := func(n int) roundResult { return roundResult{requests: n, elapsed: time.Second} }
	// The machine's speed changes from round to round: the ratio of the
	// medians would be 300/1000, the rounds' own ratios are 0.5, 0.25, 0.5.
	a := []roundResult{round(500), round(300), round(100), round(7)}
	ref := []roundResult{round(1000), round(1200), round(200), round(0)}
	if got, want := roundRatios(a, ref), []float64{0.25, 0.5, 0.5}; !slices.Equal(got, want) {
		t.Errorf("roundRatios = %v, want %v (sorted, without the round where ref served nothing)", got, want)
	}
	if got := roundRatios(a, nil); len(got) != 0 {
		t.Errorf("roundRatios without reference rounds = %v, want none", got)
	}
}

func TestParseBaseline(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "gate-old")
	plain := filepath.Join(dir, "notes.txt")
	for path, mode := range map[string]os.FileMode{exe: 0o755, plain: 0o644} {
		if err := os.WriteFile(path, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	o, err := parseOptions([]string{"-baseline", exe})
	if err != nil || o.baseline != exe {
		t.Fatalf("parseOptions(-baseline %s) = %q, %v; want the path, no error", exe, o.baseline, err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), dir, plain} {
		if _, err := parseOptions([]string{"-baseline", bad}); err == nil || !strings.HasPrefix(err.Error(), "-baseline: ") {
			t.Errorf("parseOptions(-baseline %s): error %v; want one naming -baseline", bad, err)
		}
	}
}

func TestMemoryReport(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"-targets", "none", "-burst", "0", "-memory-sessions", "20000"}, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`20000 sessions, [0-9]+ bytes per session`).MatchString(out.String()) {
		t.Errorf("no bytes per session in:\n%s", out.String())
	}
}

// TestCPUTime compares cpuTime with the kernel's own account of this
// process (getrusage) around a bounded spin: the two must agree to within
// the clock ticks /proc counts in.
func TestCPUTime(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc: cpuTime reads /proc/PID/stat")
	}
	rusage := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, ruBefore := cpuTime(os.Getpid()), rusage()
	for deadline := time.Now().Add(2 * time.Second); rusage()-ruBefore < 300*time.Millisecond && time.Now().Before(deadline); {
	}
	got, want := cpuTime(os.Getpid())-before, rusage()-ruBefore
	if want < 100*time.Millisecond {
		t.Skipf("spun only %v of CPU in 2s; the machine is too busy to compare", want)
	}
	// /proc counts whole ticks (10ms), taken at other instants than
	// getrusage: allow a few ticks either way.
	if d := got - want; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("cpuTime grew by %v; getrusage says %v", got, want)
	}
	if cpuTime(-1) != 0 {
		t.Error("cpuTime of no process is not 0")
	}
}

func TestParseLogouts(t *testing.T) {
	o, err := parseOptions([]string{"-logout-latency", "-logouts", "50"})
	if err != nil || !o.logoutLatency || o.logouts != 50 {
		t.Fatalf("parseOptions(-logout-latency -logouts 50) = %v, %d, %v; want true, 50, no error", o.logoutLatency, o.logouts, err)
	}
	if _, err := parseOptions([]string{"-logout-latency", "-logouts", "0"}); err == nil || !strings.Contains(err.Error(), "-logouts") {
		t.Errorf("parseOptions(-logouts 0): error %v; want one naming -logouts", err)
	}
}
