package access_test

import (
	"strings"
	"testing"

	"gate/internal/access"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"clean", "/admin", "/admin"},
		{"root", "/", "/"},
		{"empty", "", "/"},
		{"no_leading_slash", "admin", "/admin"},
		{"dot_dot", "/public/../admin", "/admin"},
		{"encoded_dot_dot", "/public/%2e%2e/admin", "/admin"},
		{"encoded_dot_dot_upper", "/public/%2E%2E/admin", "/admin"},
		{"mixed_dot_dot", "/public/.%2e/admin", "/admin"},
		{"double_slash", "//admin", "/admin"},
		{"many_slashes", "/a///b////c", "/a/b/c"},
		{"dot", "/./admin", "/admin"},
		{"encoded_dot", "/%2e/admin", "/admin"},
		{"above_root", "/../../admin", "/admin"},
		{"above_root_relative", "../admin", "/admin"},
		{"trailing_dot_dot", "/a/b/..", "/a/"},
		{"trailing_dot", "/a/b/.", "/a/b/"},
		{"trailing_slash_kept", "/a/b/", "/a/b/"},
		{"only_dot_dot", "/..", "/"},
		{"triple_dot_is_a_name", "/a/.../b", "/a/.../b"},
		{"dot_in_name", "/a/.b/c.", "/a/.b/c."},
		{"unreserved_decoded", "/%61dmin/%7E%5F%2D%2E", "/admin/~_-."},
		{"reserved_kept", "/public%2F..%2Fadmin", "/public%2F..%2Fadmin"},
		{"reserved_upper_cased", "/a%2fb%3a", "/a%2Fb%3A"},
		{"space_kept_encoded", "/a%20b", "/a%20b"},
		{"stray_percent", "/100%", "/100%25"},
		{"bad_escape", "/a%zzb", "/a%25zzb"},
		{"short_escape", "/a%4", "/a%254"},
		{"percent_then_escape", "/%%34%31", "/%2541"},
		{"query_raw", "/a/../b?x=/../y&z=%2e", "/b?x=/../y&z=%2e"},
		{"query_only", "?x=1", "/?x=1"},
		{"query_after_clean_path", "/a?b//c", "/a?b//c"},
		{"encoded_question_mark", "/a%3Fb/../c", "/c"},
		{"backslash_left_alone", "/a\\..\\b", "/a\\..\\b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := access.NormalizePath(tt.in); got != tt.want {
				t.Errorf("NormalizePath(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizePath_cleanDoesNotAllocate(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/users?id=1", "/a%2Fb/c%20d/", "/.well-known/x"} {
		if n := testing.AllocsPerRun(100, func() { access.NormalizePath(p) }); n != 0 {
			t.Errorf("NormalizePath(%q) allocates %v times; want 0", p, n)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/", "", "/a/b?c", "/public/../admin", "/public/%2e%2e/admin", "//admin", "/./admin",
		"%", "%%34%31", "/a%2fb", "/..", "a/./b/../../c", "/%2E%2e%2F", "?//..//", "/a//b/./c/..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := access.NormalizePath(in)
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("NormalizePath(%q) = %q; want a leading /", in, got)
		}
		path, _, _ := strings.Cut(got, "?")
		if strings.Contains(path, "//") {
			t.Fatalf("NormalizePath(%q) = %q; path contains //", in, got)
		}
		for _, seg := range strings.Split(path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("NormalizePath(%q) = %q; path contains a dot segment", in, got)
			}
		}
		if again := access.NormalizePath(got); again != got {
			t.Fatalf("NormalizePath(%q) = %q, but normalizing that gives %q", in, got, again)
		}
	})
}
