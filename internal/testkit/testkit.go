package testkit

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Required reports whether GATE_TEST_REQUIRE (comma-separated, any case)
// names name: then a test lacking the program fails instead of skipping.
func Required(name string) bool {
	for _, v := range strings.Split(os.Getenv("GATE_TEST_REQUIRE"), ",") {
		if strings.EqualFold(strings.TrimSpace(v), name) {
			return true
		}
	}
	return false
}

// Find returns the path of the first of programs on PATH, or "" when none
// is there. name is what GATE_TEST_REQUIRE calls the need; how says where
// to get it. A missing program fails the test when name is required, and
// is only logged otherwise: the caller leaves out what needs it.
func Find(t testing.TB, name, how string, programs ...string) string {
	t.Helper()
	for _, p := range programs {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if Required(name) {
		t.Fatalf("%s is required (GATE_TEST_REQUIRE=%s) but none of %v is on PATH (%s)", name, os.Getenv("GATE_TEST_REQUIRE"), programs, how)
	}
	t.Logf("%s: none of %v is on PATH (%s); set GATE_TEST_REQUIRE=%s to make this a failure", name, programs, how, name)
	return ""
}

// Need is Find for a test that cannot run without the program: it is
// skipped when the program is missing and name is not required.
func Need(t testing.TB, name, how string, programs ...string) string {
	t.Helper()
	path := Find(t, name, how, programs...)
	if path == "" {
		t.Skipf("%s not found on PATH", name)
	}
	return path
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1, for programs
// that bind their own listener (or for an address nothing listens on):
// the port is free when this returns.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as "127.0.0.1:PORT".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
