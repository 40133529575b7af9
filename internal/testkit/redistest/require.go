package redistest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gate/internal/testkit"
)

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
		if testkit.Required("redis") {
			t.Fatal(msg + "; GATE_TEST_REQUIRE names redis")
		}
		t.Skip(msg + "; set GATE_TEST_REQUIRE=redis to make this a failure")
	}
	return slices.Clip(paths)
}
