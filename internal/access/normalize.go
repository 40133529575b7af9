package access

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadPath marks a request path gate refuses to judge: the authz
// endpoints answer it 400. The error wrapping it says why.
var ErrBadPath = errors.New("access: path refused")

// NormalizePath returns the path and query of a request target as the most
// lenient common backend would serve them, so that rules judge the resource
// actually reached, not the spelling an attacker chose (path confusion:
// /public/..%2fadmin reaches /admin behind nginx, a WSGI app or Tomcat
// while a rule reading it literally sees a file under /public).
//
// In the path, before the first '?', decoding happens once:
//   - percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are
//     decoded: nginx and every framework decode them before routing;
//   - the separators '\', %2F and %5C (either case) become '/': nginx,
//     WSGI servers and Go's net/http decode %2F into the path they serve,
//     and Windows servers take '\' for '/';
//   - path parameters, from ';' or %3B up to the next separator, are
//     dropped: Tomcat and Jetty strip them before mapping, so
//     /public/..;/admin is /admin there. Dropping %3B too judges a request
//     by the shorter path, never a longer one, whichever way a backend
//     reads it;
//   - other escapes stay encoded with upper-case hex (%3a is %3A), and a
//     '%' that starts no escape is written %25, so that the result reads
//     the same when normalized again. %252F is the text "%2F", not a
//     separator: decoding twice would make gate judge a path no common
//     backend serves;
//   - then empty segments are dropped (//admin is /admin), "." and ".."
//     segments resolved, never above the root, and a leading '/' ensured.
//     A trailing '/', or a trailing dot segment, leaves a trailing '/'.
//
// The query is kept raw after the first '?'.
//
// NormalizePath refuses, with an error wrapping ErrBadPath, a path that
// common backends read in ways too different to judge once (see
// CheckPath). A path that is already normal is returned as is, without
// allocating: that is nearly every request.
func NormalizePath(raw string) (string, error) {
	out, _, err := normalize(raw, true)
	return out, err
}

// CheckPath reports why NormalizePath would refuse the request target raw,
// or nil. The error wraps ErrBadPath. A path it accepts costs no
// allocation, so the authz endpoints run it on every request.
//
// Refused anywhere in the path, encoded or not:
//   - NUL (%00): C-based servers and file systems end the path there, so
//     /admin%00.png is /admin to one backend and a picture to a rule;
//   - %uXXXX escapes: IIS decodes them, and Jetty 9.4 decoded %u002e as
//     '.' (CVE-2021-34429), so %u002f would be a separator gate cannot see;
//   - overlong UTF-8 (%C0%AF is an overlong '/', %C0%AE an overlong '.'):
//     no valid text uses these bytes, and old decoders turned them into
//     separators and dots (the IIS "Unicode" traversal).
func CheckPath(raw string) error {
	path, _, _ := strings.Cut(raw, "?")
	if isNormal(path) {
		return nil
	}
	return checkPath(path)
}

// normalize is NormalizePath, and the view a literal router has when
// resolve is false: dot segments stay in place instead of being resolved.
// dots reports whether the path has a dot segment, that is whether the two
// views can differ.
func normalize(raw string, resolve bool) (out string, dots bool, err error) {
	path, query, hasQuery := strings.Cut(raw, "?")
	if isNormal(path) {
		return raw, false, nil
	}
	if err := checkPath(path); err != nil {
		return "", false, err
	}
	b, dots := appendNormal(make([]byte, 0, len(raw)+1), path, resolve)
	if hasQuery {
		b = append(b, '?')
		b = append(b, query...)
	}
	return string(b), dots, nil
}

// checkPath returns the reason CheckPath gives for path, which has no
// query.
func checkPath(path string) error {
	// prev is the byte before, after decoding: an overlong form is only
	// seen in a pair.
	var prev byte
	for i := 0; i < len(path); {
		b, width := path[i], 1
		if b == '%' {
			switch {
			case i+2 < len(path) && isHex(path[i+1]) && isHex(path[i+2]):
				b, width = unhex(path[i+1])<<4|unhex(path[i+2]), 3
			case isUnicodeEscape(path[i:]):
				return fmt.Errorf("%w: %%u escape in the path", ErrBadPath)
			}
		}
		switch {
		case b == 0:
			return fmt.Errorf("%w: %%00 (NUL) in the path", ErrBadPath)
		case b == 0xC0 || b == 0xC1,
			prev == 0xE0 && 0x80 <= b && b < 0xA0,
			prev == 0xF0 && 0x80 <= b && b < 0x90:
			return fmt.Errorf("%w: overlong UTF-8 in the path", ErrBadPath)
		}
		prev = b
		i += width
	}
	return nil
}

// isUnicodeEscape reports whether s starts with %uXXXX (either case of u).
func isUnicodeEscape(s string) bool {
	if len(s) < 6 || s[0] != '%' || s[1]|0x20 != 'u' {
		return false
	}
	for i := 2; i < 6; i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// What one step through a path reads, after one percent-decoding.
const (
	unitByte   = iota // a byte written as is: raw, or a decoded unreserved escape
	unitEscape        // a byte kept as %XX with upper-case hex
	unitSep           // a separator: '/', '\', %2F, %5C
	unitParam         // the start of a path parameter: ';' or %3B
)

// nextUnit reads path at i: what is there, its byte, and its width in path.
func nextUnit(path string, i int) (kind int, b byte, width int) {
	switch c := path[i]; c {
	case '/', '\\':
		return unitSep, '/', 1
	case ';':
		return unitParam, c, 1
	case '%':
		if i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2]) {
			// A '%' that starts no escape is a literal percent sign.
			return unitEscape, '%', 1
		}
		switch v := unhex(path[i+1])<<4 | unhex(path[i+2]); {
		case v == '/' || v == '\\':
			return unitSep, '/', 3
		case v == ';':
			return unitParam, v, 3
		case isUnreserved(v):
			return unitByte, v, 3
		default:
			return unitEscape, v, 3
		}
	default:
		return unitByte, c, 1
	}
}

const upperHex = "0123456789ABCDEF"

// appendNormal appends the normalized form of path, which has no query. With
// resolve false, "." and ".." segments are written as they are instead of
// being resolved. dots reports whether there was such a segment.
func appendNormal(out []byte, path string, resolve bool) (_ []byte, dots bool) {
	// trailing records whether the output should end with '/': the input's
	// last segment was empty or a resolved dot segment.
	trailing := false
	for i := 0; ; {
		start := len(out)
		out = append(out, '/')
		param, more := false, false
		for i < len(path) {
			if c := path[i]; !param && c != '/' && c != '\\' && c != ';' && c != '%' {
				out = append(out, c) // the common case, without the call
				i++
				continue
			}
			kind, b, width := nextUnit(path, i)
			i += width
			if kind == unitSep {
				more = true
				break
			}
			param = param || kind == unitParam
			switch {
			case param:
			case kind == unitEscape:
				out = append(out, '%', upperHex[b>>4], upperHex[b&0xF])
			default:
				out = append(out, b)
			}
		}
		switch string(out[start+1:]) {
		case "":
			out = out[:start]
			trailing = true
		case ".", "..":
			dots = true
			if !resolve {
				trailing = false
				break
			}
			if out[len(out)-2] == '.' { // ".."
				out = out[:lastSlash(out[:start])]
			} else {
				out = out[:start]
			}
			trailing = true
		default:
			trailing = false
		}
		if !more {
			break
		}
	}
	if len(out) == 0 || trailing {
		out = append(out, '/')
	}
	return out, dots
}

// isNormal reports whether NormalizePath would return path unchanged and
// CheckPath would accept it, without looking further.
func isNormal(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '/':
			rest := path[i+1:]
			if strings.HasPrefix(rest, "/") || isDotSegment(rest, ".") || isDotSegment(rest, "..") {
				return false
			}
		case c == '%':
			if i+2 >= len(path) || !isUpperHex(path[i+1]) || !isUpperHex(path[i+2]) {
				return false
			}
			if v := unhex(path[i+1])<<4 | unhex(path[i+2]); isUnreserved(v) || v == '/' || v == '\\' || v == ';' || needsCheck(v) {
				return false
			}
			i += 2
		case c == '\\' || c == ';' || needsCheck(c):
			return false
		}
	}
	return true
}

// needsCheck reports whether b, raw or decoded, may be part of what
// checkPath refuses: NUL, and the lead bytes of overlong UTF-8 forms.
func needsCheck(b byte) bool {
	return b == 0 || b == 0xC0 || b == 0xC1 || b == 0xE0 || b == 0xF0
}

// isDotSegment reports whether rest starts with the segment dot.
func isDotSegment(rest, dot string) bool {
	return strings.HasPrefix(rest, dot) && (len(rest) == len(dot) || rest[len(dot)] == '/')
}

// lastSlash returns the index of the last '/' in b, or 0 when there is none.
func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return 0
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
