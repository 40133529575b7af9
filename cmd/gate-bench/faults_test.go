package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"all", faultNames(), ""},
		{"freeze", []string{"freeze"}, ""},
		{"kill-aof, sentinel-kill", []string{"kill-aof", "sentinel-kill"}, ""},
		{"kill", nil, `unknown experiment "kill"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseFaults(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFaults(%q) error %v; want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("parseFaults(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestTallyJudgesSessions: a 200 for a session that ended before the
// request was sent is counted against gate, one answered while its logout
// was out is not judged, and 302s for live sessions and 503s by send time
// are kept for the report.
func TestTallyJudgesSessions(t *testing.T) {
	ms := time.Millisecond
	live := &liveSession{born: 5 * ms}
	ended := &liveSession{}
	ended.ended.Store(int64(100 * ms))
	loggingOut := &liveSession{}
	loggingOut.ended.Store(unknownEnd)

	a, b := newTally(), newTally()
	a.record(ended, 90*ms, 95*ms, http.StatusOK)   // sent before the end: fine
	a.record(ended, 110*ms, 111*ms, http.StatusOK) // after: gate let an ended session through
	a.record(loggingOut, 50*ms, 51*ms, http.StatusOK)
	a.record(loggingOut, 52*ms, 53*ms, http.StatusFound)
	b.record(live, 60*ms, 61*ms, http.StatusFound)
	b.record(live, 200*ms, 230*ms, http.StatusServiceUnavailable)
	b.record(live, 300*ms, 301*ms, http.StatusServiceUnavailable)
	a.merge(b)

	if within, outside := split(a.deadAllowed, 0, time.Hour); within != 1 || outside != 0 {
		t.Errorf("200s for an ended session: %d; want 1", within+outside)
	}
	if within, outside := split(a.deadAllowed, 0, 50*ms); within != 0 || outside != 1 {
		t.Errorf("split by the end at 100ms over [0, 50ms] = %d, %d; want 0, 1", within, outside)
	}
	if within, _ := split(a.liveRefused, 5*ms, 5*ms); within != 1 {
		t.Errorf("302s for a live session born at 5ms: %d; want 1", within)
	}
	if a.first503 != 230*ms || a.last503 != 301*ms {
		t.Errorf("503 window %v → %v; want 230ms → 301ms", a.first503, a.last503)
	}
	if got := a.sent503From(250 * ms); got != 1 {
		t.Errorf("503s sent from 250ms: %d; want 1", got)
	}
	if a.slowest != 30*ms || a.slowestSent != 200*ms {
		t.Errorf("slowest %v sent at %v; want 30ms at 200ms", a.slowest, a.slowestSent)
	}
	if got := fmt.Sprint(a.codes); got != "map[200:3 302:2 503:2]" {
		t.Errorf("codes %s", got)
	}
}

// TestGateLogSummary feeds the log reader gate's lines in odd pieces.
func TestGateLogSummary(t *testing.T) {
	lines := []string{
		`{"level":"info","redis":"redis 127.0.0.1:6379 db 0","message":"redis reachable"}`,
		`{"level":"error","error":"dial tcp 127.0.0.1:6379: connect: connection refused","message":"redis unreachable: authz, login and /readyz answer 503 until it is back"}`,
		`{"level":"warn","error":"dial tcp 127.0.0.1:6379: connect: connection refused","outage":"10s","failed_requests":1000,"message":"redis still unreachable"}`,
		`{"level":"warn","error":"dial tcp 127.0.0.1:6379: connect: connection refused","outage":"20s","failed_requests":900,"message":"redis still unreachable"}`,
		`{"level":"info","outage":"25.004s","failed_requests":2400,"message":"redis reachable again"}`,
		`{"level":"error","message":"session store error"}`,
	}
	text := strings.Join(lines, "\n") + "\n"
	g := newGateLog()
	for len(text) > 0 {
		n := min(37, len(text))
		if _, err := g.Write([]byte(text[:n])); err != nil {
			t.Fatal(err)
		}
		text = text[n:]
	}
	s := g.summary()
	want := []string{
		`info "redis reachable"`,
		`error "redis unreachable" (dial tcp 127.0.0.1:6379: connect: connection refused)`,
		`warn "redis still unreachable" ×2 outage=20s failed_requests=900`,
		`info "redis reachable again" outage=25.004s failed_requests=2400`,
	}
	if !slices.Equal(s.redis, want) {
		t.Errorf("redis lines:\n%s\nwant:\n%s", strings.Join(s.redis, "\n"), strings.Join(want, "\n"))
	}
	if s.lines != 6 || s.errorLines != 2 || s.errorOther != 1 {
		t.Errorf("lines %d, error level %d, not the outage's %d; want 6, 2, 1", s.lines, s.errorLines, s.errorOther)
	}
}
