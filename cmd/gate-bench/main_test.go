package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
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
	err := run([]string{"-rounds", "1", "-duration", "300ms", "-conns", "4", "-sessions", "10",
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
	for _, f := range []string{"client.cpu.pprof", "floor.cpu.pprof", "floor.heap.pprof", "floor-identity.allocs.pprof"} {
		if st, err := os.Stat(filepath.Join(prof, f)); err != nil || st.Size() == 0 {
			t.Errorf("profile %s missing or empty: %v", f, err)
		}
	}
}

func TestPairedRatio(t *testing.T) {
	round := func(n int) roundResult { return roundResult{requests: n, elapsed: time.Second} }
	// The machine slows down in round 2: the ratio of medians would be
	// 300/1000, the per-round ratios are 0.5, 0.5 and 0.25.
	a := []roundResult{round(500), round(100), round(300)}
	ref := []roundResult{round(1000), round(200), round(1200)}
	if r, ok := pairedRatio(a, ref); !ok || r != 0.5 {
		t.Errorf("pairedRatio = %v, %v; want 0.5, true", r, ok)
	}
	if _, ok := pairedRatio(a, nil); ok {
		t.Error("pairedRatio without a reference round reports ok")
	}
	if _, ok := pairedRatio(a, []roundResult{round(0)}); ok {
		t.Error("pairedRatio against a reference that served nothing reports ok")
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

func TestCPUTime(t *testing.T) {
	before := cpuTime(os.Getpid())
	for x := 0; cpuTime(os.Getpid()) == before; x++ {
		_ = x * x
	}
	if cpuTime(os.Getpid()) <= before {
		t.Fatal("cpuTime did not grow while this process spun")
	}
	if cpuTime(-1) != 0 {
		t.Error("cpuTime of no process is not 0")
	}
}
