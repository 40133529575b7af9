package config_test

import (
	"crypto/tls"
	"reflect"
	"testing"
	"time"

	"gate/internal/config"
)

// redisSection is a session.redis section with config's defaults and mut
// applied.
func redisSection(mut func(*config.Redis)) config.Redis {
	r := config.Redis{
		Port:                     6379,
		MaximumActiveConnections: 8,
		Timeout:                  5 * time.Second,
		SessionPrefix:            "gate:session:",
		StatePrefix:              "gate:state:",
	}
	mut(&r)
	return r
}

func TestRedisEndpoint(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*config.Redis)
		want config.RedisEndpoint
	}{
		{"host", func(r *config.Redis) { r.Host, r.Username, r.Password, r.DatabaseIndex = "h", "u", "p", 2 },
			config.RedisEndpoint{Topology: config.TopologySingle, Network: "tcp", Addrs: []string{"h:6379"}, Username: "u", Password: "p", DB: 2}},
		{"socket", func(r *config.Redis) { r.Host = "/run/redis.sock" },
			config.RedisEndpoint{Topology: config.TopologySingle, Network: "unix", Addrs: []string{"/run/redis.sock"}}},
		{"url_over_keys", func(r *config.Redis) {
			r.URL, r.Username, r.Password, r.DatabaseIndex = "redis://a:b@[::1]:7000/4", "u", "p", 2
		},
			config.RedisEndpoint{Topology: config.TopologySingle, Network: "tcp", Addrs: []string{"[::1]:7000"}, Username: "a", Password: "b", DB: 4}},
		{"url_unix", func(r *config.Redis) { r.URL = "unix:///run/redis.sock?db=3" },
			config.RedisEndpoint{Topology: config.TopologySingle, Network: "unix", Addrs: []string{"/run/redis.sock"}, DB: 3}},
		{"url_sentinel_query_credentials", func(r *config.Redis) {
			r.URL = "redis+sentinel://s1,s2:26380/m?sentinel_password=q"
			r.HighAvailability = &config.RedisSentinel{SentinelUsername: "su", SentinelPassword: "sp", Nodes: []config.RedisNode{{Host: "s3", Port: 26379}, {Host: "s1", Port: 26379}}}
		}, config.RedisEndpoint{Topology: config.TopologySentinel, Network: "tcp", Addrs: []string{"s1:26379", "s2:26380", "s3:26379"}, MasterName: "m", SentinelUsername: "su", SentinelPassword: "q"}},
		{"url_one_host_sentinel_section", func(r *config.Redis) {
			r.URL = "redis://s0:26379"
			r.HighAvailability = &config.RedisSentinel{SentinelName: "m"}
		}, config.RedisEndpoint{Topology: config.TopologySentinel, Network: "tcp", Addrs: []string{"s0:26379"}, MasterName: "m"}},
		{"cluster_host_and_nodes", func(r *config.Redis) {
			r.Host = "n0"
			r.Cluster = &config.RedisCluster{Nodes: []config.RedisNode{{Host: "[fd00::1]", Port: 7001}}}
		}, config.RedisEndpoint{Topology: config.TopologyCluster, Network: "tcp", Addrs: []string{"n0:6379", "[fd00::1]:7001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := redisSection(tt.mut)
			got, err := r.Endpoint()
			if err != nil {
				t.Fatalf("Endpoint: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Endpoint =\n%+v\nwant\n%+v", *got, tt.want)
			}
		})
	}
}

// TestRedisEndpointErrors holds Endpoint, from which the client is built,
// and Validate to the same problems: each case is one Validate once let
// through and the client then refused.
func TestRedisEndpointErrors(t *testing.T) {
	tests := []struct {
		name     string
		mut      func(*config.Redis)
		key, msg string
	}{
		{"url_unknown_parameter", func(r *config.Redis) { r.URL = "redis://h/0?tls_insecure=true" }, "session.redis.url", `unknown query parameter "tls_insecure"`},
		{"url_repeated_parameter", func(r *config.Redis) { r.URL = "redis+sentinel://h/m?sentinel_username=a&sentinel_username=b" }, "session.redis.url", "given 2 times"},
		{"url_sentinel_credentials_on_single", func(r *config.Redis) { r.URL = "redis://h?sentinel_password=x" }, "session.redis.url", "belong to Sentinel URLs"},
		{"url_huge_db", func(r *config.Redis) { r.URL = "redis://h/99999999999999999999" }, "session.redis.url", "out of range"},
		{"url_unix_bad_escape", func(r *config.Redis) { r.URL = "unix:///run/%zz.sock" }, "session.redis.url", "socket path"},
		{"url_sentinel_with_cluster_section", func(r *config.Redis) {
			r.URL, r.Cluster = "redis+sentinel://h/m", &config.RedisCluster{}
		}, "session.redis.cluster", "names a Sentinel deployment"},
		{"url_cluster_with_sentinel_section", func(r *config.Redis) {
			r.URL, r.HighAvailability = "redis+cluster://h", &config.RedisSentinel{SentinelName: "m"}
		}, "session.redis.high_availability", "names a Cluster"},
		{"url_db_with_cluster_section", func(r *config.Redis) {
			r.URL, r.Cluster = "redis://h/3", &config.RedisCluster{}
		}, "session.redis.url", "only database 0"},
		{"url_one_host_sentinel_without_name", func(r *config.Redis) {
			r.URL, r.HighAvailability = "redis://h", &config.RedisSentinel{}
		}, "session.redis.high_availability.sentinel_name", "required"},
		{"socket_with_sentinel", func(r *config.Redis) {
			r.Host, r.HighAvailability = "/run/redis.sock", &config.RedisSentinel{SentinelName: "m"}
		}, "session.redis.host", "unix socket reaches one server"},
		{"url_socket_with_cluster", func(r *config.Redis) {
			r.URL, r.Cluster = "unix:///run/redis.sock", &config.RedisCluster{}
		}, "session.redis.url", "unix socket reaches one server"},
		{"socket_as_node", func(r *config.Redis) {
			r.Cluster = &config.RedisCluster{Nodes: []config.RedisNode{{Host: "/run/redis.sock", Port: 6379}}}
		}, "session.redis.cluster.nodes[0].host", "not a socket path"},
		{"tls_maximum_below_default_minimum", func(r *config.Redis) {
			r.Host, r.TLS = "h", &config.RedisTLS{MaximumVersion: "TLS1.1"}
		}, "session.redis.tls.maximum_version", "below the default minimum_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := redisSection(tt.mut)
			_, err := r.Endpoint()
			wantProblem(t, err, tt.key, tt.msg)

			c := validConfig(t)
			c.Session.Redis = &r
			wantProblem(t, c.Validate(), tt.key, tt.msg)
		})
	}
}

func TestRedisEndpointTLS(t *testing.T) {
	for _, tt := range []struct {
		name string
		mut  func(*config.Redis)
		on   bool
	}{
		{"none", func(r *config.Redis) { r.Host = "h" }, false},
		{"rediss_url", func(r *config.Redis) { r.URL = "rediss://h" }, true},
		{"tls_section", func(r *config.Redis) { r.Host, r.TLS = "h", &config.RedisTLS{} }, true},
		{"redis_url_with_tls_section", func(r *config.Redis) { r.URL, r.TLS = "redis://h", &config.RedisTLS{ServerName: "r"} }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := redisSection(tt.mut)
			e, err := r.Endpoint()
			if err != nil {
				t.Fatal(err)
			}
			if got := e.TLS != nil; got != tt.on {
				t.Fatalf("TLS on = %v; want %v", got, tt.on)
			}
			if e.TLS != nil && (e.TLS.MinVersion != tls.VersionTLS12 || e.TLS.MaxVersion != 0) {
				t.Errorf("versions = %x-%x; want TLS 1.2 and newer", e.TLS.MinVersion, e.TLS.MaxVersion)
			}
		})
	}
}
