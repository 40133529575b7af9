package config_test

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"gate/internal/config"
)

const (
	day   = 24 * time.Hour
	week  = 7 * day
	month = 30 * day
	year  = 365 * day
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"go_seconds", "90s", 90 * time.Second},
		{"go_combined", "1h30m", 90 * time.Minute},
		{"go_milliseconds", "500ms", 500 * time.Millisecond},
		{"go_microseconds", "3us", 3 * time.Microsecond},
		{"go_micro_sign", "3µs", 3 * time.Microsecond},
		{"go_greek_mu", "3μs", 3 * time.Microsecond},
		{"go_nanoseconds", "7ns", 7},
		{"go_fraction", "1.5h", 90 * time.Minute},
		{"go_leading_dot", ".5s", 500 * time.Millisecond},
		{"go_trailing_dot", "2.s", 2 * time.Second},
		{"go_string_form", (26*time.Hour + 3*time.Minute + 4*time.Millisecond).String(), 26*time.Hour + 3*time.Minute + 4*time.Millisecond},
		{"plain_integer", "90", 90 * time.Second},
		{"plain_zero", "0", 0},
		{"plain_leading_zeros", "007", 7 * time.Second},
		{"plain_minus_one", "-1", -time.Second},
		{"surrounding_spaces", " 5m ", 5 * time.Minute},
		{"day", "1d", day},
		{"week", "1w", week},
		{"month", "1M", month},
		{"year", "1y", year},
		{"minute_is_lower_case", "1m", time.Minute},
		{"day_and_hours", "1d12h", 36 * time.Hour},
		{"year_and_months", "1y2M", year + 2*month},
		{"all_units", "1y1M1w1d1h1m1s1ms1us1ns", year + month + week + day + time.Hour + time.Minute + time.Second + time.Millisecond + time.Microsecond + 1},
		{"fraction_of_day", "1.5d", 36 * time.Hour},
		{"fraction_of_year_exact", "0.5y", year / 2},
		{"units_repeat", "1h1h", 2 * time.Hour},
		{"max", "2562047h47m16.854775807s", math.MaxInt64},
		{"max_seconds_plain", "9223372036", 9223372036 * time.Second},
		{"long_fraction_truncated", "1.0000000000000000000009s", time.Second},
		// Authelia's spelled-out units, as its own examples write them.
		{"authelia_hour", "1 hour", time.Hour},
		{"authelia_minutes", "5 minutes", 5 * time.Minute},
		{"authelia_min", "10min", 10 * time.Minute},
		{"authelia_days", "2 days", 2 * day},
		{"authelia_week_and_days", "1 week 2 days", week + 2*day},
		{"authelia_month", "1 month", month},
		{"authelia_years", "2 years", 2 * year},
		{"authelia_sec_msec", "1sec 500msec", 1500 * time.Millisecond},
		{"authelia_milliseconds", "250 milliseconds", 250 * time.Millisecond},
		{"spaced_short_units", "1h 30m", 90 * time.Minute},
		{"space_before_short_unit", "1 M", month},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v; want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"blank", "   "},
		{"garbage", "soon"},
		{"unit_only", "h"},
		{"missing_unit", "1.5"},
		{"dot_only", ".s"},
		{"upper_case_hour", "1H"},
		{"upper_case_day", "1D"},
		{"unknown_unit", "1x"},
		{"trailing_garbage", "1hx"},
		{"number_space_number", "1 2h"},
		{"long_unit_upper_case", "1 Hour"},
		{"long_unit_typo", "5 minuts"},
		{"long_unit_trailing_letters", "1 hours2"},
		{"negative_go_notation", "-5m"},
		{"negative_inside", "1h-5m"},
		{"plus_sign", "+5m"},
		{"plain_plus", "+5"},
		{"lone_minus", "-"},
		{"overflow_plain", "9223372037"},
		{"overflow_plain_negative", "-9223372037"},
		{"overflow_huge_integer", "99999999999999999999999"},
		{"overflow_years", "300y"},
		{"overflow_hours", "2562048h"},
		{"overflow_sum", "2562047h47m16.854775808s"},
		{"overflow_components", "200y200y"},
		{"overflow_fraction", "292.5y"},
		{"comma", "1,5h"},
		{"hex", "0x10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v; want error", tt.in, got)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

var negativeInteger = regexp.MustCompile(`^-[0-9]+$`)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "1h30m", "500ms", "1.5h", "90", "-1", "1d12h", "1y2M", "1w", "µs", "2562047h47m16.854775807s", ".5s", "1..5s", "9223372037", "1M1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := config.ParseDuration(s)
		d2, err2 := config.ParseDuration(s)
		if d != d2 || (err == nil) != (err2 == nil) {
			t.Fatalf("ParseDuration(%q) not deterministic: %v, %v then %v, %v", s, d, err, d2, err2)
		}
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q spans lines", err)
			}
			return
		}
		if d < 0 {
			if !negativeInteger.MatchString(strings.TrimSpace(s)) {
				t.Fatalf("ParseDuration(%q) = %v: only plain integers may be negative", s, d)
			}
			return
		}
		back, err := config.ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, but ParseDuration(%q) = %v, %v", s, d, d.String(), back, err)
		}
	})
}
