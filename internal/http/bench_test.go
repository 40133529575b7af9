package http_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// nopWriter is a ResponseWriter that keeps headers and drops the rest, so the
// benchmark measures gate and not the recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkForwardAuth is one allowed decision through the real router with a
// valid cookie and the memory store: the hot path of every proxied request.
func BenchmarkForwardAuth(b *testing.B) {
	e := newEnv(b, envOpts{})
	c := e.mustLogin("alice", alicePass)
	r := httptest.NewRequest("GET", "/api/authz/forward-auth", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("X-Forwarded-Method", "GET")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "app.example.com")
	r.Header.Set("X-Forwarded-Uri", "/dashboard/items?page=2")
	r.Header.Set("X-Forwarded-For", "203.0.113.7, 10.0.0.2")
	r.AddCookie(c)

	check := httptest.NewRecorder()
	e.h.ServeHTTP(check, r)
	if check.Code != http.StatusOK || check.Header().Get("Remote-User") != "alice" {
		b.Fatalf("setup: status %d, Remote-User %q", check.Code, check.Header().Get("Remote-User"))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &nopWriter{h: make(http.Header, 8)}
		for pb.Next() {
			clear(w.h)
			e.h.ServeHTTP(w, r)
		}
	})
}
