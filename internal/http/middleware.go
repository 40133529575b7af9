package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/access"
	"gate/internal/session"
	"gate/internal/users"
)

type ctxKey struct{ name string }

var requestKey = &ctxKey{"request"}

// requestState is what logging needs per request. The request id, and the
// request's logger, are made only when something is logged: the counter
// behind the ids is shared by every core.
type requestState struct {
	ids  *requestIDs
	n    uint64 // 0 until id is first called
	base *zerolog.Logger
	log  *zerolog.Logger
	// site is the cookie domain the request's host picked; nil for a host
	// under none, and for requests that are neither authz nor portal.
	site *site
	// quiet5xx is set when a 5xx answer is no error worth a line of its
	// own at error level: the client hung up before the store answered,
	// or the store is in an outage its health watcher reports once.
	quiet5xx bool
}

func (st *requestState) id() string {
	if st.n == 0 {
		st.n = st.ids.n.Add(1)
	}
	return st.ids.format(st.n)
}

// logger returns the request's logger, carrying its request id; a nil state
// logs nothing.
func (st *requestState) logger() *zerolog.Logger {
	if st == nil {
		return &nopLogger
	}
	if st.log == nil {
		l := st.base.With().Str("request_id", st.id()).Logger()
		st.log = &l
	}
	return st.log
}

// routedState is a routed request's state with its status recorder, in one
// allocation.
type routedState struct {
	statusWriter
	requestState
}

func stateFrom(ctx context.Context) *requestState {
	if st, ok := ctx.Value(requestKey).(*routedState); ok {
		return &st.requestState
	}
	return nil
}

var nopLogger = zerolog.Nop()

// logFrom returns the request's logger, carrying its request id.
func logFrom(r *http.Request) *zerolog.Logger { return stateFrom(r.Context()).logger() }

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

func (s *Server) newState() requestState {
	return requestState{ids: s.ids, base: &s.opts.Logger}
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

// requestContext gives each routed request an id and a logger and writes
// its access log line when it ends.
func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &routedState{statusWriter: statusWriter{ResponseWriter: w}, requestState: s.newState()}
		next.ServeHTTP(&st.statusWriter, r.WithContext(context.WithValue(r.Context(), requestKey, st)))
		s.logRequest(&st.requestState, r, st.code, start)
	})
}

// logRequest writes a request's access log line. The line names method,
// path and status only: query strings, cookies and credentials are never
// logged. Authz answers and probes are logged at debug, as they come with
// every request to every protected app or every few seconds.
func (s *Server) logRequest(st *requestState, r *http.Request, code int, start time.Time) {
	level := zerolog.InfoLevel
	if authzDialect(r.URL.Path) != nil || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
		level = zerolog.DebugLevel
	}
	if code >= 500 && !st.quiet5xx {
		level = zerolog.ErrorLevel
	}
	if e := st.base.WithLevel(level); e != nil {
		e.Str("request_id", st.id()).Str("method", r.Method).Str("path", r.URL.Path).Int("status", code).
			Str("remote", r.RemoteAddr).Dur("duration", time.Since(start)).Msg("request")
	}
}

// recoverer turns a panic into a 500 with a short body; the stack goes to the
// log, never to the client.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				answerPanic(w, stateFrom(r.Context()), v)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// answerPanic answers a recovered panic. http.ErrAbortHandler is net/http's
// own way to abort a response and goes on up.
func answerPanic(w http.ResponseWriter, st *requestState, v any) {
	if v == http.ErrAbortHandler {
		panic(v)
	}
	st.logger().Error().Interface("panic", v).Stack().Msg("handler panicked")
	writeText(w, http.StatusInternalServerError, "internal error")
}

// logDecision logs an authz decision at debug. The query string is left out:
// it may carry tokens.
func logDecision(st *requestState, endpoint string, t target, u users.User, res access.Result) {
	// Check the level on the base logger first: building the request's
	// logger costs allocations this path, run on every request, avoids.
	if st.base.GetLevel() > zerolog.DebugLevel || zerolog.GlobalLevel() > zerolog.DebugLevel {
		return
	}
	path, _, _ := strings.Cut(t.URI, "?")
	st.logger().Debug().Str("endpoint", endpoint).Str("target_method", t.Method).Str("target_host", t.Host).
		Str("target_path", path).Str("user", u.Name).Str("decision", res.String()).Msg("authz decision")
}

// storeError records a store call that failed; the caller answers 503.
//
// A call that failed because the client hung up is not the store's fault:
// it is neither counted nor logged as an error. A store that is
// unavailable (session.ErrUnavailable: Redis down, frozen or refusing) is
// counted, and logged at debug only: during an outage every request fails,
// and redisconn.Health reports the outage once as it starts, in a summary
// while it lasts and once as it ends. Any other failure is logged here.
func (s *Server) storeError(st *requestState, op string, err error) {
	if errors.Is(err, context.Canceled) {
		if st != nil {
			st.quiet5xx = true
		}
		st.logger().Debug().Err(err).Str("op", op).Msg("request canceled before the session store answered")
		return
	}
	if m := s.opts.Metrics; m != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
	if errors.Is(err, session.ErrUnavailable) {
		if st != nil {
			st.quiet5xx = true
		}
		st.logger().Debug().Err(err).Str("op", op).Msg("session store unavailable")
		return
	}
	st.logger().Error().Err(err).Str("op", op).Msg("session store error")
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
