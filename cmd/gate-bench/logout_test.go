package main

import (
	"strings"
	"testing"
	"time"
)

// TestReportLogoutLatency checks the rows' percentiles and that a logout
// never refused fails the run, its wait counted in the percentiles.
func TestReportLogoutLatency(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name     string
		cached   *logoutSeries
		wantRow  string
		wantSpec string
		wantErr  bool
	}{
		{"all refused", &logoutSeries{name: "local cache on", lat: ms(4, 1, 3, 2, 5), stale: 7},
			"| local cache on | 5 | 3.00ms | 4.00ms | 4.00ms | 5.00ms | 7 | 0 |", "met (4.00ms)", false},
		{"one never refused", &logoutSeries{name: "local cache on", lat: ms(1, 1001), stale: 900, never: 1},
			"| local cache on | 2 | 1.00ms | 1.00ms | 1.00ms | 1001.00ms | 900 | 1 |", "not met", true},
		{"slow p99", &logoutSeries{name: "local cache on", lat: ms(11, 12)},
			"| local cache on | 2 | 11.00ms | 11.00ms | 11.00ms | 12.00ms | 0 | 0 |", "not met (11.00ms)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := &logoutSeries{name: "local cache off (baseline)", lat: ms(1, 2)}
			var out strings.Builder
			err := reportLogoutLatency(&out, len(tt.cached.lat), []*logoutSeries{tt.cached, base})
			if got := err != nil; got != tt.wantErr {
				t.Errorf("error %v; want an error: %v", err, tt.wantErr)
			}
			for _, want := range []string{tt.wantRow, "| local cache off (baseline) | 2 | 1.00ms |", "10 ms with the local cache: " + tt.wantSpec} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("no %q in:\n%s", want, out.String())
				}
			}
		})
	}
}
