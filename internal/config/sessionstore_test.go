package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"gate/internal/config"
)

// The session_store block of SPEC section 13, as written there, is
// session.redis and session.expiration.
func TestLoadSessionStore(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		env      map[string]string
		want     *config.Redis
		wantTTL  time.Duration
		wantFrom config.StoreFrom
	}{
		{
			name: "spec_example",
			yaml: `
session_store:
  type: redis
  redis:
    addr: "redis.internal:6379"
    password: "${REDIS_PASSWORD}"
    db: 0
    session_prefix: "myapp:session:"
    state_prefix: "myapp:state:"
    ttl: "8h"
`,
			env:      map[string]string{"REDIS_PASSWORD": "pw from env"},
			want:     storeRedis("redis.internal", 6379, "pw from env", 0, "myapp:session:", "myapp:state:"),
			wantTTL:  8 * time.Hour,
			wantFrom: config.StoreFromBlock,
		},
		{
			name:     "ipv6_gate_duration_default_prefixes",
			yaml:     "session_store:\n  type: redis\n  redis:\n    addr: \"[fd00::1]:6380\"\n    db: 15\n    ttl: 7d\n",
			want:     storeRedis("[fd00::1]", 6380, "", 15, "gate:session:", "gate:state:"),
			wantTTL:  7 * 24 * time.Hour,
			wantFrom: config.StoreFromBlock,
		},
		{
			name:     "ttl_defaults_to_24h",
			yaml:     "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n",
			want:     storeRedis("r", 6379, "", 0, "gate:session:", "gate:state:"),
			wantTTL:  24 * time.Hour,
			wantFrom: config.StoreFromBlock,
		},
		{
			name:     "session_expiration_kept_without_ttl",
			yaml:     "session:\n  expiration: 2h\nsession_store:\n  type: redis\n  redis:\n    addr: r:6379\n",
			want:     storeRedis("r", 6379, "", 0, "gate:session:", "gate:state:"),
			wantTTL:  2 * time.Hour,
			wantFrom: config.StoreFromBlock,
		},
		{
			name:     "memory",
			yaml:     "session_store:\n  type: memory\n  redis:\n    ttl: 3h\n",
			wantTTL:  3 * time.Hour,
			wantFrom: config.StoreFromBlock,
		},
		{
			name:     "only_part_of_a_value_is_not_replaced",
			yaml:     "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    password: \"x${REDIS_PASSWORD}\"\n",
			env:      map[string]string{"REDIS_PASSWORD": "pw"},
			want:     storeRedis("r", 6379, "x${REDIS_PASSWORD}", 0, "gate:session:", "gate:state:"),
			wantTTL:  24 * time.Hour,
			wantFrom: config.StoreFromBlock,
		},
		{
			name:     "redis_url_when_no_store_is_named",
			env:      map[string]string{"REDIS_URL": "redis://:pw@r2:6390/3"},
			want:     urlRedis("redis://:pw@r2:6390/3"),
			wantTTL:  time.Hour,
			wantFrom: config.StoreFromRedisURL,
		},
		{
			name:     "redis_url_ignored_beside_session_redis",
			yaml:     "session:\n  redis:\n    host: r\n",
			env:      map[string]string{"REDIS_URL": "redis://r2:6390/3"},
			want:     hostRedis("r"),
			wantTTL:  time.Hour,
			wantFrom: config.StoreFromSession,
		},
		{
			name:     "redis_url_ignored_beside_gate_url",
			env:      map[string]string{"REDIS_URL": "redis://r2:6390/3", "GATE_SESSION_REDIS_URL": "redis://r3:6379/0"},
			want:     urlRedis("redis://r3:6379/0"),
			wantTTL:  time.Hour,
			wantFrom: config.StoreFromSession,
		},
		{
			name:     "redis_url_ignored_beside_session_store",
			yaml:     "session_store:\n  type: memory\n",
			env:      map[string]string{"REDIS_URL": "redis://r2:6390/3"},
			wantTTL:  24 * time.Hour,
			wantFrom: config.StoreFromBlock,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env, baseYAML(t), tt.yaml)
			if !reflect.DeepEqual(c.Session.Redis, tt.want) {
				t.Errorf("Session.Redis = %+v; want %+v", c.Session.Redis, tt.want)
			}
			if got := time.Duration(c.Session.Expiration); got != tt.wantTTL {
				t.Errorf("Session.Expiration = %v; want %v", got, tt.wantTTL)
			}
			if got := c.StoreFrom(); got != tt.wantFrom {
				t.Errorf("StoreFrom() = %v; want %v", got, tt.wantFrom)
			}
		})
	}
}

func storeRedis(host string, port int, password string, db int, sessionPrefix, statePrefix string) *config.Redis {
	r := hostRedis(host)
	r.Port, r.Password, r.DatabaseIndex = port, password, db
	r.SessionPrefix, r.StatePrefix = sessionPrefix, statePrefix
	return r
}

func hostRedis(host string) *config.Redis {
	return &config.Redis{Host: host, Port: 6379, MaximumActiveConnections: 8, Timeout: 5 * time.Second,
		SessionPrefix: "gate:session:", StatePrefix: "gate:state:",
		LocalCache: config.RedisLocalCache{Enabled: true, MaxEntries: 100_000}}
}

func urlRedis(u string) *config.Redis {
	r := hostRedis("")
	r.URL = u
	return r
}

// Every mistake in the block is named with the operator's own keys, and
// no message quotes a password.
func TestLoadSessionStoreErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		key  string
		msg  string
	}{
		{"unset_env", "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    password: \"${REDIS_PASSWORD}\"\n", nil,
			"session_store.redis.password", "REDIS_PASSWORD, which is not set"},
		{"empty_env", "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    password: \"${REDIS_PASSWORD}\"\n", map[string]string{"REDIS_PASSWORD": ""},
			"session_store.redis.password", "not set"},
		{"both_stores", "session:\n  redis:\n    host: r\nsession_store:\n  type: redis\n  redis:\n    addr: r:6379\n", nil,
			"session_store", "session.redis"},
		{"both_lifetimes", "session:\n  expiration: 2h\nsession_store:\n  redis:\n    ttl: 3h\n", nil,
			"session_store.redis.ttl", "session.expiration"},
		{"no_addr", "session_store:\n  type: redis\n", nil, "session_store.redis.addr", "required"},
		{"addr_without_port", "session_store:\n  type: redis\n  redis:\n    addr: redis.internal\n", nil, "session_store.redis.addr", "port is missing"},
		{"addr_bare_ipv6", "session_store:\n  type: redis\n  redis:\n    addr: \"fd00::1:6379\"\n", nil, "session_store.redis.addr", "host:port"},
		{"addr_bad_port", "session_store:\n  type: redis\n  redis:\n    addr: r:99999\n", nil, "session_store.redis.addr", "1-65535"},
		{"addr_with_memory", "session_store:\n  redis:\n    addr: r:6379\n", nil, "session_store.redis.addr", "type: redis"},
		{"bad_type", "session_store:\n  type: postgres\n", nil, "session_store.type", "memory or redis"},
		{"db_too_big", "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    db: 16\n", nil, "session_store.redis.db", "0-15"},
		{"db_negative", "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    db: -1\n", nil, "session_store.redis.db", "0-15"},
		{"db_not_a_number", "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    db: zero\n", nil, "session_store.redis.db", ""},
		{"ttl_zero", "session_store:\n  redis:\n    ttl: 0s\n", nil, "session_store.redis.ttl", "positive"},
		{"ttl_garbage", "session_store:\n  redis:\n    ttl: soon\n", nil, "session_store.redis.ttl", ""},
		{"ttl_from_env_garbage", "session_store:\n  redis:\n    ttl: ${TTL}\n", map[string]string{"TTL": "soon"}, "session_store.redis.ttl", ""},
		{"bad_prefix", "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    session_prefix: \"a{b}\"\n", nil,
			"session_store.redis.session_prefix", "{"},
		{"same_prefixes", "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    session_prefix: \"p:\"\n    state_prefix: \"p:\"\n", nil,
			"session_store.redis.state_prefix", "differ"},
		{"unknown_key", "session_store:\n  type: redis\n  redis:\n    addr: r:6379\n    pasword: x\n", nil, "session_store.redis.pasword", ""},
		{"ttl_shorter_than_inactivity", "session_store:\n  redis:\n    ttl: 1m\n", nil,
			"session.inactivity", "longer than session_store.redis.ttl 1m0s"},
		{"expiration_named_as_written_beside_the_block", "session:\n  expiration: 1m\nsession_store:\n  type: memory\n", nil,
			"session.inactivity", "longer than session.expiration 1m0s"},
		{"redis_url_bad", "", map[string]string{"REDIS_URL": "http://secretpw@r:6379"}, "REDIS_URL", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.env, baseYAML(t), tt.yaml)
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			wantProblem(t, err, tt.key, tt.msg)
			for _, p := range config.Problems(err) {
				if strings.HasPrefix(p.Key, "session.redis") || strings.Contains(p.Msg, "secretpw") {
					t.Errorf("problem %q names gate's key or quotes a secret", p)
				}
			}
		})
	}
}
