package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/access"
	"gate/internal/users"
)

type ctxKey struct{ name string }

var requestKey = &ctxKey{"request"}

// requestState is everything the middleware keeps per request, in one
// allocation: the status recorder and what logging needs. The request id and
// the request's logger are built only when something is logged.
type requestState struct {
	statusWriter
	ids  *requestIDs
	n    uint64
	base *zerolog.Logger
	log  *zerolog.Logger
}

func (st *requestState) id() string { return st.ids.format(st.n) }

func (st *requestState) logger() *zerolog.Logger {
	if st.log == nil {
		l := st.base.With().Str("request_id", st.id()).Logger()
		st.log = &l
	}
	return st.log
}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(requestKey).(*requestState)
	return st
}

// RequestIDFrom returns the id the request is logged under.
func RequestIDFrom(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.id()
	}
	return ""
}

var nopLogger = zerolog.Nop()

// logFrom returns the request's logger, carrying its request id.
func logFrom(r *http.Request) *zerolog.Logger {
	if st := stateFrom(r.Context()); st != nil {
		return st.logger()
	}
	return &nopLogger
}

// requestIDs makes ids unique per process and unguessable across restarts
// without a random read per request: a random prefix and a counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &requestIDs{prefix: hex.EncodeToString(b) + "-"}
}

func (g *requestIDs) format(n uint64) string {
	return g.prefix + strconv.FormatUint(n, 36)
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestContext gives each request an id and a logger and writes one access
// log line when it ends. The line names method, path and status only: query
// strings, cookies and credentials are never logged. Authz answers are logged
// at debug, as they come with every request to every protected app.
func (s *Server) requestContext(next http.Handler) http.Handler {
	ids := newRequestIDs()
	base := &s.opts.Logger
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{statusWriter: statusWriter{ResponseWriter: w}, ids: ids, n: ids.n.Add(1), base: base}
		next.ServeHTTP(&st.statusWriter, r.WithContext(context.WithValue(r.Context(), requestKey, st)))
		level := zerolog.InfoLevel
		if isAuthzPath(r.URL.Path) || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			level = zerolog.DebugLevel
		}
		if st.code >= 500 {
			level = zerolog.ErrorLevel
		}
		if e := base.WithLevel(level); e != nil {
			e.Str("request_id", st.id()).Str("method", r.Method).Str("path", r.URL.Path).Int("status", st.code).
				Str("remote", r.RemoteAddr).Dur("duration", time.Since(start)).Msg("request")
		}
	})
}

func isAuthzPath(p string) bool {
	return p == "/api/authz/forward-auth" || p == "/api/authz/auth-request"
}

// recoverer turns a panic into a 500 with a short body; the stack goes to the
// log, never to the client.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logFrom(r).Error().Interface("panic", v).Stack().Msg("handler panicked")
				writeText(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// logDecision logs an authz decision at debug. The query string is left out:
// it may carry tokens.
func logDecision(r *http.Request, endpoint string, t target, u users.User, res access.Result) {
	// Check the level on the base logger first: building the request's
	// logger costs allocations this path, run on every request, avoids.
	st := stateFrom(r.Context())
	if st == nil || st.base.GetLevel() > zerolog.DebugLevel || zerolog.GlobalLevel() > zerolog.DebugLevel {
		return
	}
	path, _, _ := strings.Cut(t.URI, "?")
	st.logger().Debug().Str("endpoint", endpoint).Str("target_method", t.Method).Str("target_host", t.Host).
		Str("target_path", path).Str("user", u.Name).Str("decision", res.String()).Msg("authz decision")
}

func (s *Server) storeError(r *http.Request, op string, err error) {
	logFrom(r).Error().Err(err).Str("op", op).Msg("session store error")
	if m := s.opts.Metrics; m != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

func (s *Server) decided(result string) {
	if m := s.opts.Metrics; m != nil {
		m.byResult[result].Inc()
	}
}

func (s *Server) loginCount(result string) {
	if m := s.opts.Metrics; m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

func (s *Server) metricsAuthz(next http.Handler) http.Handler {
	if s.opts.Metrics == nil {
		return next
	}
	h := s.opts.Metrics.latency
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		h.Observe(time.Since(start).Seconds())
	})
}

// onceEvery lets an event per key through once per period; it bounds its
// memory so a spray of addresses cannot grow it.
type onceEvery struct {
	period time.Duration
	max    int
	mu     sync.Mutex
	seen   map[netip.Addr]time.Time
}

func newOnceEvery(period time.Duration, max int) *onceEvery {
	return &onceEvery{period: period, max: max, seen: make(map[netip.Addr]time.Time)}
}

func (o *onceEvery) allow(k netip.Addr) bool {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.seen[k]; ok && now.Sub(t) < o.period {
		return false
	}
	if len(o.seen) >= o.max {
		for k, t := range o.seen {
			if now.Sub(t) >= o.period {
				delete(o.seen, k)
			}
		}
		if len(o.seen) >= o.max {
			return false
		}
	}
	o.seen[k] = now
	return true
}
