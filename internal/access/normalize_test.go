package access_test

import (
	"errors"
	"strings"
	"testing"

	"gate/internal/access"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct{ name, in, want string }{
		// Already normal.
		{"clean", "/admin", "/admin"},
		{"root", "/", "/"},
		{"trailing_slash_kept", "/a/b/", "/a/b/"},
		{"reserved_escape_kept", "/a%3Ab/c%20d", "/a%3Ab/c%20d"},
		{"utf8_escape_kept", "/caf%C3%A9", "/caf%C3%A9"},
		{"triple_dot_is_a_name", "/a/.../b", "/a/.../b"},
		{"dot_in_name", "/a/.b/c.", "/a/.b/c."},
		// Leading slash and empty segments.
		{"empty", "", "/"},
		{"no_leading_slash", "admin", "/admin"},
		{"double_slash", "//admin", "/admin"},
		{"many_slashes", "/a///b////c", "/a/b/c"},
		// Dot segments.
		{"dot_dot", "/public/../admin", "/admin"},
		{"dot", "/./admin", "/admin"},
		{"above_root", "/../../admin", "/admin"},
		{"above_root_relative", "../admin", "/admin"},
		{"only_dot_dot", "/..", "/"},
		{"trailing_dot_dot", "/a/b/..", "/a/"},
		{"trailing_dot", "/a/b/.", "/a/b/"},
		{"dot_dot_then_slash", "/admin/x/..//", "/admin/"},
		// Encoded dots.
		{"encoded_dot_dot", "/public/%2e%2e/admin", "/admin"},
		{"encoded_dot_dot_upper", "/public/%2E%2E/admin", "/admin"},
		{"mixed_dot_dot", "/public/.%2e/admin", "/admin"},
		{"encoded_dot", "/%2e/admin", "/admin"},
		{"unreserved_decoded", "/%61dmin/%7E%5F%2D%2E", "/admin/~_-."},
		{"encoded_letters_mixed_case", "/%41%64%6d%49N", "/AdmIN"},
		// Encoded separators.
		{"encoded_slash", "/admin%2Fusers", "/admin/users"},
		{"encoded_slash_lower", "/admin%2fusers", "/admin/users"},
		{"encoded_slash_dot_dot", "/public/..%2fadmin/secret.html", "/admin/secret.html"},
		{"encoded_slash_dot_dot_upper", "/public/..%2Fadmin", "/admin"},
		{"encoded_dots_and_slash", "/public/%2e%2e%2Fadmin/x", "/admin/x"},
		{"two_levels_up", "/public/x/..%2f..%2fadmin/secret.html", "/admin/secret.html"},
		{"all_encoded", "/public%2F..%2Fadmin", "/admin"},
		{"encoded_double_slash", "/%2F%2Fadmin", "/admin"},
		{"encoded_backslash", "/public/..%5cadmin", "/admin"},
		{"encoded_backslash_upper", "/public/..%5Cadmin", "/admin"},
		// Backslashes.
		{"backslash_dot_dot", "/public\\..\\admin", "/admin"},
		{"backslash_leading", "\\admin", "/admin"},
		{"backslash_mixed", "/public/..\\/admin", "/admin"},
		// Path parameters.
		{"param_dot_dot", "/public/..;/admin", "/admin"},
		{"param_with_value_dot_dot", "/public/..;x=1/admin", "/admin"},
		{"param_last_segment", "/admin;jsessionid=abc", "/admin"},
		{"param_middle_segment", "/admin;x/users", "/admin/users"},
		{"param_only_segment", "/;x/admin", "/admin"},
		{"param_encoded_semicolon", "/admin%3Bx", "/admin"},
		{"param_encoded_semicolon_lower", "/public/..%3b/admin", "/admin"},
		{"param_ends_at_encoded_slash", "/public;x%2F..%2Fadmin", "/admin"},
		{"param_encoded_dot_dot", "/public/%2e%2e;/admin", "/admin"},
		// Decoding happens once.
		{"double_encoded_slash", "/public/..%252fadmin", "/public/..%252fadmin"},
		{"double_encoded_dot", "/public/%252e%252e/admin", "/public/%252e%252e/admin"},
		{"percent_then_escape", "/%%34%31", "/%2541"},
		// Other escapes.
		{"reserved_upper_cased", "/a%2fb%3a", "/a/b%3A"},
		{"space_kept_encoded", "/a%20b", "/a%20b"},
		{"stray_percent", "/100%", "/100%25"},
		{"bad_escape", "/a%zzb", "/a%25zzb"},
		{"short_escape", "/a%4", "/a%254"},
		{"short_unicode_escape", "/a%u00", "/a%25u00"},
		{"encoded_question_mark", "/a%3Fb/../c", "/c"},
		// The query.
		{"query_raw", "/a/../b?x=/../y&z=%2e", "/b?x=/../y&z=%2e"},
		{"query_only", "?x=1", "/?x=1"},
		{"query_after_clean_path", "/a?b//c", "/a?b//c"},
		{"query_keeps_semicolon_and_slash", "/a%2Fb?p=1;q=%2F", "/a/b?p=1;q=%2F"},
		{"query_nul_is_the_apps", "/a?x=%00", "/a?x=%00"},
		{"empty_query_kept", "/a/../b?", "/b?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := access.NormalizePath(tt.in)
			if err != nil {
				t.Fatalf("NormalizePath(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("NormalizePath(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizePath_refused(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"nul", "/admin%00.png", "%00"},
		{"nul_segment", "/a/%00/b", "%00"},
		{"nul_raw", "/a\x00b", "%00"},
		{"nul_after_dot_dot", "/public/..%2f%00", "%00"},
		{"unicode_slash", "/public/..%u002fadmin", "%u"},
		{"unicode_dot_upper", "/%U002e%U002e/admin", "%u"},
		{"overlong_slash", "/public/..%c0%afadmin", "overlong"},
		{"overlong_slash_upper", "/public/..%C0%AFadmin", "overlong"},
		{"overlong_dot", "/%c0%ae%c0%ae/admin", "overlong"},
		{"overlong_c1", "/a%c1%9c", "overlong"},
		{"overlong_three_bytes", "/a%e0%80%af", "overlong"},
		{"overlong_four_bytes", "/a%f0%80%80%af", "overlong"},
		{"overlong_raw", "/a\xc0\xafb", "overlong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := access.NormalizePath(tt.in)
			if !errors.Is(err, access.ErrBadPath) {
				t.Fatalf("NormalizePath(%q) = %q, %v; want ErrBadPath", tt.in, got, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q; want it to say %q", err, tt.want)
			}
			if err := access.CheckPath(tt.in); !errors.Is(err, access.ErrBadPath) {
				t.Errorf("CheckPath(%q) = %v; want ErrBadPath", tt.in, err)
			}
		})
	}
}

// TestCheckPath_accepts keeps the refusals narrow: valid UTF-8 in the
// ranges next to the overlong forms, and escapes that only look alike.
func TestCheckPath_accepts(t *testing.T) {
	for _, p := range []string{
		"/", "/a%2Fb", "/%E0%A4%95", "/%F0%9F%98%80", "/%C3%A9", "/%2500", "/a?x=%00", "/a?%c0%af", "/%25u002f", "/a%u", "/%E0",
	} {
		if err := access.CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v; want nil", p, err)
		}
	}
}

func TestNormalizePath_cleanDoesNotAllocate(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/users?id=1", "/a%3Ab/c%20d/", "/.well-known/x", "/caf%C3%A9?q=%2F"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = access.NormalizePath(p) }); n != 0 {
			t.Errorf("NormalizePath(%q) allocates %v times; want 0", p, n)
		}
		if n := testing.AllocsPerRun(100, func() { _ = access.CheckPath(p) }); n != 0 {
			t.Errorf("CheckPath(%q) allocates %v times; want 0", p, n)
		}
	}
}

// FuzzNormalizePath checks the properties the rules rely on: the result is
// normal (normalizing again changes nothing), its path has none of the
// spellings backends read as something else, and a NUL is always refused.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"/", "", "/a/b?c", "/public/../admin", "/public/%2e%2e/admin", "//admin", "/./admin",
		"%", "%%34%31", "/a%2fb", "/..", "a/./b/../../c", "/%2E%2e%2F", "?//..//", "/a//b/./c/..",
		"/public/..%2fadmin", "/public/..;/admin", "/public\\..\\admin", "/admin;x%2F..%2F..", "/a%3b/..",
		"/a%00", "/%c0%af", "/%u002f", "/..%252f", "/a;b/", "/.;/.%3B/", "/%5C%5c\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := access.NormalizePath(in)
		path, _, _ := strings.Cut(in, "?")
		if strings.Contains(strings.ToUpper(path), "%00") || strings.Contains(path, "\x00") {
			if !errors.Is(err, access.ErrBadPath) {
				t.Fatalf("NormalizePath(%q) = %q, %v; want ErrBadPath for a NUL", in, got, err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, access.ErrBadPath) {
				t.Fatalf("NormalizePath(%q): %v; want only ErrBadPath errors", in, err)
			}
			if cerr := access.CheckPath(in); !errors.Is(cerr, access.ErrBadPath) {
				t.Fatalf("NormalizePath(%q) refuses it (%v) but CheckPath(%q) = %v", in, err, in, cerr)
			}
			return
		}
		if cerr := access.CheckPath(in); cerr != nil {
			t.Fatalf("CheckPath(%q) = %v, but NormalizePath accepts it", in, cerr)
		}
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("NormalizePath(%q) = %q; want a leading /", in, got)
		}
		out, _, _ := strings.Cut(got, "?")
		upper := strings.ToUpper(out)
		for _, bad := range []string{"%2F", "%5C", "\\", ";", "//"} {
			if strings.Contains(upper, bad) {
				t.Fatalf("NormalizePath(%q) = %q; path contains %s", in, got, bad)
			}
		}
		for _, seg := range strings.Split(out, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("NormalizePath(%q) = %q; path contains a dot segment", in, got)
			}
		}
		again, err := access.NormalizePath(got)
		if err != nil || again != got {
			t.Fatalf("NormalizePath(%q) = %q, but normalizing that gives %q, %v", in, got, again, err)
		}
	})
}
