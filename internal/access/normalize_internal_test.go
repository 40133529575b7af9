package access

import (
	"strings"
	"testing"
)

// FuzzFastPath checks that the allocation-free shortcut agrees with the full
// normalization: a path it calls normal must come out of appendNormal
// unchanged, without dot segments, and pass checkPath, or an attacker's
// spelling would reach the rules as is.
func FuzzFastPath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b", "/a%2F", "/a%2f", "/%41", "/a/.", "/a/..b", "/.a", "//", "/a%", "/a%2",
		"/a%00", "/a%C0%AF", "/a%E0%80%AF", "/a%u002f", "/a;b", "/a%3Bb", "/a\\b", "/a%5C", "/%E4%B8%AD",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if strings.Contains(path, "?") || !isNormal(path) {
			return
		}
		got, dots := appendNormal(nil, path, true)
		if string(got) != path || dots {
			t.Fatalf("isNormal(%q) = true, but it normalizes to %q (dots %v)", path, got, dots)
		}
		if err := checkPath(path); err != nil {
			t.Fatalf("isNormal(%q) = true, but checkPath refuses it: %v", path, err)
		}
	})
}
