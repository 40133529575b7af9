package access

import "strings"

// NormalizePath returns the path and query of a request target as the
// upstream will serve them, so that resources regexes judge the resource
// actually reached, not the spelling an attacker chose (path confusion:
// /public/../admin, /public/%2e%2e/admin, //admin and /./admin all reach
// /admin behind nginx or a backend that normalizes).
//
// In the path, before the first '?':
//   - percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are
//     decoded; the hex digits of other escapes are upper-cased, so %2f and
//     %2F match alike; reserved characters such as %2F stay encoded;
//   - a '%' not followed by two hex digits is written %25, so that the
//     result reads the same when normalized again;
//   - repeated slashes are collapsed, "." and ".." segments resolved (never
//     above the root), and a leading '/' ensured.
//
// The query, after the first '?', is kept raw. A path that is already normal
// is returned as is, without allocating.
func NormalizePath(raw string) string {
	path, query, hasQuery := strings.Cut(raw, "?")
	if isNormal(path) {
		return raw
	}
	out := appendNormal(make([]byte, 0, len(raw)+1), path)
	if hasQuery {
		out = append(out, '?')
		out = append(out, query...)
	}
	return string(out)
}

// appendNormal appends the normalized form of path, which has no query.
func appendNormal(out []byte, path string) []byte {
	// trailing records whether the output should end with '/': the input's
	// last segment was empty or a dot segment.
	trailing := false
	for rest := path; ; {
		seg, more, found := strings.Cut(rest, "/")
		switch {
		case seg == "":
			trailing = true
		default:
			start := len(out)
			out = append(out, '/')
			out = appendDecoded(out, seg)
			switch string(out[start+1:]) {
			case ".":
				out = out[:start]
				trailing = true
			case "..":
				out = out[:start]
				if i := lastSlash(out); i >= 0 {
					out = out[:i]
				}
				trailing = true
			default:
				trailing = false
			}
		}
		if !found {
			break
		}
		rest = more
	}
	if len(out) == 0 || trailing {
		out = append(out, '/')
	}
	return out
}

// isNormal reports whether NormalizePath would leave path unchanged.
func isNormal(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '/':
			rest := path[i+1:]
			if strings.HasPrefix(rest, "/") || isDotSegment(rest, ".") || isDotSegment(rest, "..") {
				return false
			}
		case '%':
			if i+2 >= len(path) || !isUpperHex(path[i+1]) || !isUpperHex(path[i+2]) ||
				isUnreserved(unhex(path[i+1])<<4|unhex(path[i+2])) {
				return false
			}
			i += 2
		}
	}
	return true
}

// isDotSegment reports whether rest starts with the segment dot.
func isDotSegment(rest, dot string) bool {
	return strings.HasPrefix(rest, dot) && (len(rest) == len(dot) || rest[len(dot)] == '/')
}

// appendDecoded appends seg with unreserved escapes decoded and the others
// upper-cased.
func appendDecoded(out []byte, seg string) []byte {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
			out = append(out, '%', '2', '5')
			continue
		}
		if v := unhex(seg[i+1])<<4 | unhex(seg[i+2]); isUnreserved(v) {
			out = append(out, v)
		} else {
			out = append(out, '%', upper(seg[i+1]), upper(seg[i+2]))
		}
		i += 2
	}
	return out
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}

// isUnreserved reports whether c is unreserved in RFC 3986.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isUpperHex(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}
