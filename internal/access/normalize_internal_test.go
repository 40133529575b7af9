package access

import (
	"strings"
	"testing"
)

// FuzzFastPath checks that the allocation-free shortcut agrees with the full
// normalization: a path it calls normal must come out of appendNormal
// unchanged, or an attacker's spelling would reach the rules as is.
func FuzzFastPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a%2F", "/a%2f", "/%41", "/a/.", "/a/..b", "/.a", "//", "/a%", "/a%2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if strings.Contains(path, "?") || !isNormal(path) {
			return
		}
		if got := string(appendNormal(nil, path)); got != path {
			t.Fatalf("isNormal(%q) = true, but it normalizes to %q", path, got)
		}
	})
}
