package redistest

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Required reports whether GATE_TEST_REQUIRE names name, turning a skip
// for lack of it into a failure.
func Required(name string) bool {
	for _, v := range strings.Split(os.Getenv("GATE_TEST_REQUIRE"), ",") {
		if strings.EqualFold(strings.TrimSpace(v), name) {
			return true
		}
	}
	return false
}

// LookPath returns the path of each program, in order. When one is missing
// it skips the test, or fails it when GATE_TEST_REQUIRE names redis.
func LookPath(t testing.TB, programs ...string) []string {
	t.Helper()
	var paths, missing []string
	for _, p := range programs {
		path, err := exec.LookPath(p)
		if err != nil {
			missing = append(missing, p)
			continue
		}
		paths = append(paths, path)
	}
	if len(missing) > 0 {
		msg := "redis tests need " + strings.Join(missing, ", ") + " on PATH (Debian/Ubuntu: apt-get install redis-server redis-sentinel redis-tools)"
		if Required("redis") {
			t.Fatal(msg + "; GATE_TEST_REQUIRE names redis")
		}
		t.Skip(msg + "; set GATE_TEST_REQUIRE=redis to make this a failure")
	}
	return slices.Clip(paths)
}
