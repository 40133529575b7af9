package config

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// RememberMeDisabled is the session.remember_me value that turns remember-me
// off; it is written -1 in the configuration.
const RememberMeDisabled Duration = -time.Second

// Units beyond Go's own. A month and a year are fixed lengths, as in
// Authelia: a session lifetime does not need calendar arithmetic.
const (
	day   = 24 * time.Hour
	week  = 7 * day
	month = 30 * day
	year  = 365 * day
)

// durationUnits are tried in order, so that "ms" wins over "m" followed by
// garbage. Case matters: "m" is a minute, "M" a month.
var durationUnits = []struct {
	name string
	ns   uint64
}{
	{"ns", uint64(time.Nanosecond)},
	{"us", uint64(time.Microsecond)},
	{"µs", uint64(time.Microsecond)}, // U+00B5, as time.Duration.String writes it
	{"μs", uint64(time.Microsecond)}, // U+03BC
	{"ms", uint64(time.Millisecond)},
	{"s", uint64(time.Second)},
	{"m", uint64(time.Minute)},
	{"h", uint64(time.Hour)},
	{"d", uint64(day)},
	{"w", uint64(week)},
	{"M", uint64(month)},
	{"y", uint64(year)},
}

// longUnits are Authelia's spelled-out units ("1 hour", "5 minutes"), so
// that an Authelia configuration reads unchanged. Longer names come first:
// "minutes" before "minute" before "min".
var longUnits = []struct {
	name string
	ns   uint64
}{
	{"milliseconds", uint64(time.Millisecond)},
	{"millisecond", uint64(time.Millisecond)},
	{"msec", uint64(time.Millisecond)},
	{"seconds", uint64(time.Second)},
	{"second", uint64(time.Second)},
	{"sec", uint64(time.Second)},
	{"minutes", uint64(time.Minute)},
	{"minute", uint64(time.Minute)},
	{"min", uint64(time.Minute)},
	{"hours", uint64(time.Hour)},
	{"hour", uint64(time.Hour)},
	{"days", uint64(day)},
	{"day", uint64(day)},
	{"weeks", uint64(week)},
	{"week", uint64(week)},
	{"months", uint64(month)},
	{"month", uint64(month)},
	{"years", uint64(year)},
	{"year", uint64(year)},
}

// maxSeconds is the largest whole number of seconds a time.Duration holds.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// ParseDuration parses a configuration duration: Go notation ("90s",
// "1h30m", "500ms", "1.5h"), a plain integer of seconds ("90"), or the units
// d (24h), w (7d), M (30d) and y (365d), alone or combined ("1d12h", "1y2M").
// Authelia's spelled-out units are read too, with optional spaces: "1 hour",
// "5 minutes", "1 day 12 hours".
//
// Only a plain integer may be negative: -1 is how session.remember_me is
// disabled, and a negative "-5m" is far more likely a mistake than a wish.
// Values that do not fit a time.Duration are errors, never wrapped around.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty duration")
	}
	if isInteger(in) {
		n, err := strconv.ParseInt(in, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: out of range", s)
		}
		d, err := seconds(n)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", s, err)
		}
		return d, nil
	}
	d, err := parseUnits(in)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	return d, nil
}

// isInteger reports whether s is an optionally negative run of digits.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// seconds converts a whole number of seconds, refusing overflow.
func seconds(n int64) (time.Duration, error) {
	if n > maxSeconds || n < -maxSeconds {
		return 0, errors.New("out of range")
	}
	return time.Duration(n) * time.Second, nil
}

// parseUnits parses one or more number+unit components. Fractions are exact:
// the fractional part is scaled with 128-bit arithmetic rather than a float,
// so "1.5y" is precisely a year and a half and round trips through
// time.Duration.String are lossless.
func parseUnits(s string) (time.Duration, error) {
	const limit = uint64(math.MaxInt64)
	var total uint64
	for s != "" {
		s = strings.TrimLeft(s, " ")
		i := 0
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		whole := s[:i]
		s = s[i:]
		var frac string
		if s != "" && s[0] == '.' {
			s = s[1:]
			j := 0
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			frac = s[:j]
			s = s[j:]
			if whole == "" && frac == "" {
				return 0, errors.New("expected a number")
			}
		} else if whole == "" {
			if s != "" && (s[0] == '-' || s[0] == '+') {
				return 0, errors.New("only a plain number of seconds may carry a sign")
			}
			return 0, errors.New("expected a number")
		}

		s = strings.TrimLeft(s, " ")
		unit := uint64(0)
		for _, u := range longUnits {
			if strings.HasPrefix(s, u.name) {
				unit = u.ns
				s = s[len(u.name):]
				break
			}
		}
		for _, u := range durationUnits {
			if unit != 0 {
				break
			}
			if strings.HasPrefix(s, u.name) {
				unit = u.ns
				s = s[len(u.name):]
			}
		}
		if s != "" && isLetter(rune(s[0])) {
			return 0, errors.New("unknown unit (use ns, us, ms, s, m, h, d, w, M or y, or Authelia's names such as minutes)")
		}
		if unit == 0 {
			if s == "" {
				return 0, errors.New("missing unit (use s, m, h, d, w, M or y)")
			}
			return 0, errors.New("unknown unit (use ns, us, ms, s, m, h, d, w, M or y)")
		}

		v, err := strconv.ParseUint("0"+whole, 10, 64)
		if err != nil || v > limit/unit {
			return 0, errors.New("out of range")
		}
		v *= unit
		if frac != "" {
			// Digits past the 18th add less than a nanosecond for every
			// unit up to a year; dropping them keeps the scale in a uint64.
			if len(frac) > 18 {
				frac = frac[:18]
			}
			f, _ := strconv.ParseUint(frac, 10, 64)
			scale := uint64(1)
			for range len(frac) {
				scale *= 10
			}
			hi, lo := bits.Mul64(f, unit)
			// f < scale, so f*unit/scale < unit and the quotient fits.
			q, _ := bits.Div64(hi, lo, scale)
			v += q
			if v > limit {
				return 0, errors.New("out of range")
			}
		}
		if total > limit-v {
			return 0, errors.New("out of range")
		}
		total += v
	}
	return time.Duration(total), nil
}

var durationType = reflect.TypeFor[time.Duration]()

// durationHook decodes every time.Duration field through ParseDuration.
// YAML hands over integers for "90" and strings for "90s".
func durationHook(_, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	d, err := toDuration(data)
	if err != nil {
		return nil, hookError{err.Error()}
	}
	return d, nil
}

func toDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case time.Duration:
		return x, nil
	case string:
		return ParseDuration(x)
	case int:
		return intSeconds(int64(x))
	case int64:
		return intSeconds(x)
	case int32:
		return intSeconds(int64(x))
	case uint64:
		if x > uint64(maxSeconds) {
			return 0, fmt.Errorf("invalid duration %d: out of range", x)
		}
		return intSeconds(int64(x))
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.IsNaN(x) {
			return 0, errors.New("invalid duration: a plain number means whole seconds; use a unit for fractions (1500ms)")
		}
		if x > float64(maxSeconds) || x < -float64(maxSeconds) {
			return 0, errors.New("invalid duration: out of range")
		}
		return intSeconds(int64(x))
	}
	return 0, errors.New("must be a duration such as 90s, 1h30m or 1d")
}

func intSeconds(n int64) (time.Duration, error) {
	d, err := seconds(n)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %d: %w", n, err)
	}
	return d, nil
}
