package redisconn_test

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/config"
	"gate/internal/redisconn"
)

// base is a session.redis section with config's defaults.
func base() config.Redis {
	return config.Redis{
		Port:                     6379,
		MaximumActiveConnections: 8,
		Timeout:                  5 * time.Second,
		SessionPrefix:            "gate:session:",
		StatePrefix:              "gate:state:",
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *config.Redis)
		want   redisconn.Plan
		str    string
	}{
		{
			name:   "ipv4_host_and_port",
			modify: func(c *config.Redis) { c.Host, c.Port = "10.0.0.5", 6380 },
			want:   redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Single, Network: "tcp", Addrs: []string{"10.0.0.5:6380"}}},
			str:    "redis 10.0.0.5:6380 db 0",
		},
		{
			name:   "host_name",
			modify: func(c *config.Redis) { c.Host = "redis.example.com" },
			want:   redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Single, Network: "tcp", Addrs: []string{"redis.example.com:6379"}}},
			str:    "redis redis.example.com:6379 db 0",
		},
		{
			name:   "ipv6_literal",
			modify: func(c *config.Redis) { c.Host = "[fd00::1]" },
			want:   redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Single, Network: "tcp", Addrs: []string{"[fd00::1]:6379"}}},
			str:    "redis [fd00::1]:6379 db 0",
		},
		{
			name:   "unix_socket",
			modify: func(c *config.Redis) { c.Host, c.DatabaseIndex = "/run/redis/redis.sock", 2 },
			want:   redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Single, Network: "unix", Addrs: []string{"/run/redis/redis.sock"}, DB: 2}},
			str:    "redis unix:/run/redis/redis.sock db 2",
		},
		{
			name: "acl_auth_pool_and_timeouts",
			modify: func(c *config.Redis) {
				c.Host, c.Username, c.Password = "h", "gate", "pw"
				c.DatabaseIndex, c.MaximumActiveConnections, c.MinimumIdleConnections = 3, 20, 2
				c.Timeout, c.MaxRetries = 750*time.Millisecond, 2
			},
			want: redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Single, Network: "tcp", Addrs: []string{"h:6379"}, Username: "gate", Password: "pw", DB: 3}, PoolSize: 20, MinIdleConns: 2, Timeout: 750 * time.Millisecond, MaxRetries: 2},
			str:  "redis h:6379 db 3",
		},
		{
			name: "sentinel_host_is_first_node",
			modify: func(c *config.Redis) {
				c.Host, c.Port, c.Username, c.Password = "s0", 26379, "gate", "mpw"
				c.HighAvailability = &config.RedisSentinel{
					SentinelName: "mymaster", SentinelUsername: "su", SentinelPassword: "spw",
					Nodes:          []config.RedisNode{{Host: "s1", Port: 26379}, {Host: "[fd00::2]", Port: 26380}, {Host: "s0", Port: 26379}},
					RouteByLatency: true,
				}
			},
			want: redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Sentinel, Network: "tcp", Addrs: []string{"s0:26379", "s1:26379", "[fd00::2]:26380"}, MasterName: "mymaster", Username: "gate", Password: "mpw", SentinelUsername: "su", SentinelPassword: "spw"}, RouteByLatency: true},
			str:  `redis sentinel "mymaster" via s0:26379,s1:26379,[fd00::2]:26380 db 0`,
		},
		{
			name: "cluster",
			modify: func(c *config.Redis) {
				c.Password = "pw"
				c.Cluster = &config.RedisCluster{Nodes: []config.RedisNode{{Host: "n1", Port: 7000}, {Host: "n2", Port: 7001}}}
			},
			want: redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Cluster, Network: "tcp", Addrs: []string{"n1:7000", "n2:7001"}, Password: "pw"}},
			str:  "redis cluster via n1:7000,n2:7001",
		},
		{
			name: "url_replaces_host_fields",
			modify: func(c *config.Redis) {
				c.URL, c.Username, c.Password, c.DatabaseIndex = "redis://u:p@h:6390/4", "other", "other", 1
			},
			want: redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Single, Network: "tcp", Addrs: []string{"h:6390"}, Username: "u", Password: "p", DB: 4}},
			str:  "redis h:6390 db 4",
		},
		{
			name: "url_without_user_info_keeps_password",
			modify: func(c *config.Redis) {
				c.URL, c.Password = "redis://h", "from-secret-file"
			},
			want: redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Single, Network: "tcp", Addrs: []string{"h:6379"}, Password: "from-secret-file"}},
			str:  "redis h:6379 db 0",
		},
		{
			name:   "url_unix",
			modify: func(c *config.Redis) { c.URL = "unix:///run/redis.sock?db=5" },
			want:   redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Single, Network: "unix", Addrs: []string{"/run/redis.sock"}, DB: 5}},
			str:    "redis unix:/run/redis.sock db 5",
		},
		{
			name: "url_sentinel_with_section_credentials",
			modify: func(c *config.Redis) {
				c.URL = "redis://:mpw@s1,s2:26380/mymaster?db=1"
				c.HighAvailability = &config.RedisSentinel{SentinelUsername: "su", SentinelPassword: "spw", RouteRandomly: true}
			},
			want: redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Sentinel, Network: "tcp", Addrs: []string{"s1:26379", "s2:26380"}, MasterName: "mymaster", Password: "mpw", SentinelUsername: "su", SentinelPassword: "spw", DB: 1}, RouteRandomly: true},
			str:  `redis sentinel "mymaster" via s1:26379,s2:26380 db 1`,
		},
		{
			name: "url_sentinel_query_credentials_win",
			modify: func(c *config.Redis) {
				c.URL = "redis+sentinel://s1/m?sentinel_username=qu&sentinel_password=qp"
				c.HighAvailability = &config.RedisSentinel{SentinelUsername: "su", SentinelPassword: "spw"}
			},
			want: redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Sentinel, Network: "tcp", Addrs: []string{"s1:26379"}, MasterName: "m", SentinelUsername: "qu", SentinelPassword: "qp"}},
			str:  `redis sentinel "m" via s1:26379 db 0`,
		},
		{
			name: "url_single_host_with_sentinel_section",
			modify: func(c *config.Redis) {
				c.URL = "redis://s0:26379"
				c.HighAvailability = &config.RedisSentinel{SentinelName: "m", Nodes: []config.RedisNode{{Host: "s1", Port: 26379}}}
			},
			want: redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Sentinel, Network: "tcp", Addrs: []string{"s0:26379", "s1:26379"}, MasterName: "m"}},
			str:  `redis sentinel "m" via s0:26379,s1:26379 db 0`,
		},
		{
			name:   "url_cluster",
			modify: func(c *config.Redis) { c.URL = "redis+cluster://:pw@n1:7000,n2" },
			want:   redisconn.Plan{RedisEndpoint: config.RedisEndpoint{Topology: redisconn.Cluster, Network: "tcp", Addrs: []string{"n1:7000", "n2:6379"}, Password: "pw"}},
			str:    "redis cluster via n1:7000,n2:6379",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			c.Timeout, c.MaximumActiveConnections = 0, 0
			tt.modify(&c)
			got, err := redisconn.Resolve(c)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Resolve =\n%+v\nwant\n%+v", *got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q; want %q", s, tt.str)
			}
			for _, secret := range []string{got.Password, got.SentinelPassword} {
				if secret != "" && strings.Contains(got.String(), secret) {
					t.Errorf("String() = %q reveals a password", got.String())
				}
			}
		})
	}
}

func TestResolveTLS(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *config.Redis)
		tls    bool
	}{
		{"no_tls", func(c *config.Redis) { c.Host = "h" }, false},
		{"tls_section", func(c *config.Redis) { c.Host, c.TLS = "h", &config.RedisTLS{} }, true},
		{"rediss_url", func(c *config.Redis) { c.URL = "rediss://h" }, true},
		{"rediss_cluster_url", func(c *config.Redis) { c.URL = "rediss+cluster://n1,n2" }, true},
		// The section's presence is the switch, whatever the scheme says.
		{"redis_url_with_tls_section", func(c *config.Redis) { c.URL, c.TLS = "redis://h", &config.RedisTLS{} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.modify(&c)
			p, err := redisconn.Resolve(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.TLS != nil; got != tt.tls {
				t.Fatalf("TLS on = %v; want %v", got, tt.tls)
			}
			if p.TLS != nil {
				if p.TLS.MinVersion != tls.VersionTLS12 {
					t.Errorf("MinVersion = %x; want TLS 1.2", p.TLS.MinVersion)
				}
				if !strings.HasSuffix(p.String(), " over TLS") {
					t.Errorf("String() = %q; want it to say TLS", p.String())
				}
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *config.Redis)
		want   string
	}{
		{"nothing", func(*config.Redis) {}, "session.redis: needs host"},
		{"bad_url", func(c *config.Redis) { c.URL = "redis://:hunter2@h:0" }, "session.redis.url: host 1: port"},
		{"sentinel_without_name", func(c *config.Redis) {
			c.HighAvailability = &config.RedisSentinel{Nodes: []config.RedisNode{{Host: "s", Port: 26379}}}
		}, "sentinel_name"},
		{"sentinel_and_cluster", func(c *config.Redis) {
			c.HighAvailability = &config.RedisSentinel{SentinelName: "m", Nodes: []config.RedisNode{{Host: "s", Port: 26379}}}
			c.Cluster = &config.RedisCluster{Nodes: []config.RedisNode{{Host: "n", Port: 6379}}}
		}, "session.redis.cluster"},
		{"sentinel_url_and_cluster_section", func(c *config.Redis) {
			c.URL = "redis+sentinel://s/m"
			c.Cluster = &config.RedisCluster{}
		}, "session.redis.cluster"},
		{"cluster_url_and_sentinel_section", func(c *config.Redis) {
			c.URL = "redis+cluster://n"
			c.HighAvailability = &config.RedisSentinel{}
		}, "session.redis.high_availability"},
		{"cluster_database", func(c *config.Redis) {
			c.DatabaseIndex = 1
			c.Cluster = &config.RedisCluster{Nodes: []config.RedisNode{{Host: "n", Port: 6379}}}
		}, "session.redis.database_index"},
		{"unix_socket_sentinel", func(c *config.Redis) {
			c.Host = "/run/redis.sock"
			c.HighAvailability = &config.RedisSentinel{SentinelName: "m"}
		}, "unix socket"},
		{"bad_tls_version", func(c *config.Redis) {
			c.Host, c.TLS = "h", &config.RedisTLS{MinimumVersion: "SSL3"}
		}, "session.redis.tls.minimum_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.modify(&c)
			_, err := redisconn.Resolve(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Resolve = %v; want an error mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

// TestOptions checks the mapping into go-redis options, and the client
// type each topology gets.
func TestOptions(t *testing.T) {
	c := base()
	c.Host, c.Username, c.Password, c.DatabaseIndex = "h", "u", "p", 2
	c.MaximumActiveConnections, c.MinimumIdleConnections, c.Timeout = 12, 3, 2*time.Second
	p, err := redisconn.Resolve(c)
	if err != nil {
		t.Fatal(err)
	}
	o := p.Options()
	if o.Network != "tcp" || o.Addr != "h:6379" || o.Username != "u" || o.Password != "p" || o.DB != 2 ||
		o.PoolSize != 12 || o.MinIdleConns != 3 || o.DialTimeout != 2*time.Second ||
		o.ReadTimeout != 2*time.Second || o.WriteTimeout != 2*time.Second || o.TLSConfig != nil {
		t.Errorf("Options = %+v", o)
	}
	// go-redis reads MaxRetries 0 as "3"; config's 0 means none.
	if o.MaxRetries != -1 {
		t.Errorf("MaxRetries = %d for max_retries 0; want -1 (none)", o.MaxRetries)
	}
	p.MaxRetries = 4
	if got := p.Options().MaxRetries; got != 4 {
		t.Errorf("MaxRetries = %d; want 4", got)
	}
	client := p.NewClient()
	defer client.Close()
	if _, ok := client.(*redis.Client); !ok {
		t.Errorf("single client is %T; want *redis.Client", client)
	}

	c.Host, c.Port = "s", 26379
	c.HighAvailability = &config.RedisSentinel{SentinelName: "m", SentinelUsername: "su", SentinelPassword: "sp"}
	p, err = redisconn.Resolve(c)
	if err != nil {
		t.Fatal(err)
	}
	fo := p.FailoverOptions()
	if fo.MasterName != "m" || !reflect.DeepEqual(fo.SentinelAddrs, []string{"s:26379"}) || fo.SentinelUsername != "su" ||
		fo.SentinelPassword != "sp" || fo.Username != "u" || fo.Password != "p" || fo.DB != 2 || fo.PoolSize != 12 {
		t.Errorf("FailoverOptions = %+v", fo)
	}
	sc := p.NewClient()
	defer sc.Close()
	if _, ok := sc.(*redis.Client); !ok {
		t.Errorf("sentinel client is %T; want *redis.Client (failover)", sc)
	}
	p.RouteRandomly = true
	rc := p.NewClient()
	defer rc.Close()
	if _, ok := rc.(*redis.ClusterClient); !ok {
		t.Errorf("sentinel client routing to replicas is %T; want *redis.ClusterClient", rc)
	}

	c.HighAvailability, c.DatabaseIndex = nil, 0
	c.Cluster = &config.RedisCluster{Nodes: []config.RedisNode{{Host: "n2", Port: 7000}}}
	p, err = redisconn.Resolve(c)
	if err != nil {
		t.Fatal(err)
	}
	co := p.ClusterOptions()
	if !reflect.DeepEqual(co.Addrs, []string{"s:26379", "n2:7000"}) || co.Username != "u" || co.Password != "p" || co.PoolSize != 12 {
		t.Errorf("ClusterOptions = %+v", co)
	}
	cc := p.NewClient()
	defer cc.Close()
	if _, ok := cc.(*redis.ClusterClient); !ok {
		t.Errorf("cluster client is %T; want *redis.ClusterClient", cc)
	}
}
