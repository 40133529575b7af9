package http

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are gate's Prometheus metrics, in a registry of their own.
type Metrics struct {
	reg         *prometheus.Registry
	decisions   *prometheus.CounterVec
	latency     prometheus.Histogram
	logins      *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	// credentials counts Basic and token credentials on the authz
	// endpoints by outcome; "verified" is one password check.
	credentials *prometheus.CounterVec
	// oidcLogins counts sign-ins through providers by provider and result.
	oidcLogins *prometheus.CounterVec
	// byResult resolves the decision counters once; the label lookup would
	// otherwise hash on every request.
	byResult map[string]prometheus.Counter
	// health is what the store's up gauge and outage counter read; nil
	// until SetStoreHealth, and for the memory store, which is always up.
	health StoreHealth
}

// StoreHealth tells whether the session store's backend serves, and how
// many outages it has had (redisconn.Health does for Redis).
type StoreHealth interface {
	Up() bool
	Outages() uint64
}

// NewMetrics registers gate's metrics. activeSessions, when not nil, reports
// the live session count (the memory store knows it; Redis does not cheaply).
func NewMetrics(activeSessions func() float64) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gate_authz_decisions_total",
			Help: "Authorization decisions by result.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gate_authz_duration_seconds",
			Help:    "Time to answer an authorization request.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gate_logins_total",
			Help: "Login attempts by result.",
		}, []string{"result"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gate_session_store_errors_total",
			Help: "Session store errors by operation.",
		}, []string{"op"}),
		credentials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gate_authz_credentials_total",
			Help: "Basic and token credentials on the authz endpoints by outcome (verified is one password check).",
		}, []string{"result"}),
		oidcLogins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gate_oidc_logins_total",
			Help: "Sign-ins through OpenID Connect providers by provider and result.",
		}, []string{"provider", "result"}),
	}
	m.reg.MustRegister(m.decisions, m.latency, m.logins, m.storeErrors, m.credentials, m.oidcLogins,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gate_session_store_up",
			Help: "Whether the session store serves (1) or is in an outage (0); the memory store is always up.",
		}, m.storeUp),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gate_session_store_outages_total",
			Help: "Outages of the session store's Redis since gate started, one at start-up included.",
		}, m.storeOutages),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if activeSessions != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gate_active_sessions",
			Help: "Live sessions in the memory store.",
		}, activeSessions))
	}
	m.byResult = make(map[string]prometheus.Counter)
	for _, r := range []string{"allow", "login", "deny", "rate_limited", "bad_request", "untrusted_peer", "error", "canceled"} {
		m.byResult[r] = m.decisions.WithLabelValues(r)
	}
	for _, r := range []string{"success", "failure", "banned", "busy", "bad_request", "error"} {
		m.logins.WithLabelValues(r)
	}
	for _, r := range []string{"verified", "cache_hit", "token", "invalid", "malformed", "banned", "busy", "error"} {
		m.credentials.WithLabelValues(r)
	}
	return m
}

// SetStoreHealth makes the store's up gauge and outage counter follow h;
// call it before serving. Without it (the memory store) the store is
// always up.
func (m *Metrics) SetStoreHealth(h StoreHealth) { m.health = h }

func (m *Metrics) storeUp() float64 {
	if m.health == nil || m.health.Up() {
		return 1
	}
	return 0
}

func (m *Metrics) storeOutages() float64 {
	if m.health == nil {
		return 0
	}
	return float64(m.health.Outages())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
