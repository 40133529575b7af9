package redistest

import (
	"crypto/rand"
	"os"
	"strings"
	"time"

	"gate/internal/config"
)

// Prefix returns a key prefix no other call returns, so that tests sharing
// a Redis never see each other's keys.
func Prefix() string {
	return "gt:" + strings.ToLower(rand.Text()[:12]) + ":"
}

// Config returns a session.redis section with the defaults config fills
// in, unique prefixes, and no address: the caller sets host, url, TLS,
// Sentinel or Cluster.
func Config() config.Redis {
	p := Prefix()
	return config.Redis{
		Port:                     6379,
		MaximumActiveConnections: 8,
		Timeout:                  5 * time.Second,
		SessionPrefix:            p + "session:",
		StatePrefix:              p + "state:",
	}
}

// ExternalURL is GATE_TEST_REDIS_URL: a Redis the tests may use instead
// of starting a plain server. Every test keeps to its own key prefix.
func ExternalURL() string {
	return os.Getenv("GATE_TEST_REDIS_URL")
}
