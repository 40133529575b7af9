package http_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	gatehttp "gate/internal/http"
	"gate/internal/session"
)

// TestStoreFailureLogging: a store in an outage (ErrUnavailable) fails the
// decision closed and is counted, but logs no line at error level (the
// store's health watcher reports the outage once); a request whose client
// hung up is neither a store error nor logged as one; any other store
// failure is logged at error level as before.
func TestStoreFailureLogging(t *testing.T) {
	tests := []struct {
		name string
		// fail is the store's failure for a request with context ctx.
		fail       func(ctx context.Context) error
		cancel     bool
		wantErrors string // gate_session_store_errors_total{op="get"}
		wantResult string // the gate_authz_decisions_total label counted
		wantLines  int    // log lines at error level
	}{
		{"unavailable", func(context.Context) error {
			return fmt.Errorf("%w: redis get: dial tcp 127.0.0.1:6379: connect: connection refused", session.ErrUnavailable)
		}, false, "1", "error", 0},
		{"client_hung_up", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, true, "", "canceled", 0},
		{"unexpected", func(context.Context) error { return errors.New("store exploded quietly") }, false, "1", "error", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &strings.Builder{}
			e := newEnv(t, envOpts{logs: logs})
			alice := e.mustLogin("alice", alicePass)
			e.failing.getCtx = tt.fail
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			logs.Reset()
			resp := e.forwardAuth("GET", "https", "app.example.com", "/", withCookie(alice), func(r *http.Request) {
				*r = *r.WithContext(ctx)
			})
			wantStatus(t, resp, http.StatusServiceUnavailable)
			wantNoIdentity(t, resp)
			if got := metricValue(t, e, `gate_session_store_errors_total{op="get"}`); got != tt.wantErrors {
				t.Errorf("store errors = %q; want %q", got, tt.wantErrors)
			}
			if got := metricValue(t, e, `gate_authz_decisions_total{result="`+tt.wantResult+`"}`); got != "1" {
				t.Errorf("decisions %s = %q; want 1", tt.wantResult, got)
			}
			var errorLines []map[string]any
			for _, l := range logLines(t, logs.String()) {
				if l["level"] == "error" {
					errorLines = append(errorLines, l)
				}
			}
			if len(errorLines) != tt.wantLines {
				t.Errorf("%d lines at error level; want %d: %v", len(errorLines), tt.wantLines, errorLines)
			}
		})
	}
}

// TestStoreHealthMetrics: the store's up gauge and outage counter follow
// the health the server is given, and the memory store is always up.
func TestStoreHealthMetrics(t *testing.T) {
	e := newEnv(t, envOpts{})
	if got := metricValue(t, e, "gate_session_store_up"); got != "1" {
		t.Errorf("gate_session_store_up = %q with the memory store; want 1", got)
	}
	h := &fakeHealth{up: false, outages: 3}
	e.metrics.SetStoreHealth(h)
	for sample, want := range map[string]string{"gate_session_store_up": "0", "gate_session_store_outages_total": "3"} {
		if got := metricValue(t, e, sample); got != want {
			t.Errorf("%s = %q; want %q", sample, got, want)
		}
	}
	h.up = true
	if got := metricValue(t, e, "gate_session_store_up"); got != "1" {
		t.Errorf("gate_session_store_up = %q once the store is back; want 1", got)
	}
}

type fakeHealth struct {
	up      bool
	outages uint64
}

func (f *fakeHealth) Up() bool        { return f.up }
func (f *fakeHealth) Outages() uint64 { return f.outages }

// TestSessionCacheMetrics: the local session cache's counters and gauges
// are what its stats say at each scrape.
func TestSessionCacheMetrics(t *testing.T) {
	e := newEnv(t, envOpts{})
	stats := gatehttp.CacheStats{Hits: 7, Misses: 3, Invalidations: 5, Flushes: 2, Entries: 4, Up: true}
	e.metrics.SetSessionCache(func() gatehttp.CacheStats { return stats })
	want := map[string]string{
		"gate_session_cache_hits_total":          "7",
		"gate_session_cache_misses_total":        "3",
		"gate_session_cache_invalidations_total": "5",
		"gate_session_cache_flushes_total":       "2",
		"gate_session_cache_entries":             "4",
		"gate_session_cache_stream_up":           "1",
	}
	for sample, w := range want {
		if got := metricValue(t, e, sample); got != w {
			t.Errorf("%s = %q; want %q", sample, got, w)
		}
	}
	stats.Up = false
	if got := metricValue(t, e, "gate_session_cache_stream_up"); got != "0" {
		t.Errorf("gate_session_cache_stream_up = %q with the stream down; want 0", got)
	}
}
