package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gate/internal/config"
)

func redis(mut func(*config.Redis)) func(*config.Config) {
	return func(c *config.Config) {
		r := &config.Redis{
			Host:                     "127.0.0.1",
			Port:                     6379,
			MaximumActiveConnections: 8,
			Timeout:                  5 * time.Second,
			SessionPrefix:            "gate:session:",
			StatePrefix:              "gate:state:",
		}
		if mut != nil {
			mut(r)
		}
		c.Session.Redis = r
	}
}

func redisTLS(mut func(*config.RedisTLS)) func(*config.Config) {
	return redis(func(r *config.Redis) {
		r.TLS = &config.RedisTLS{MinimumVersion: "TLS1.2"}
		mut(r.TLS)
	})
}

func rule(r config.Rule) func(*config.Config) {
	return func(c *config.Config) { c.AccessControl.Rules = []config.Rule{r} }
}

func TestValidateAccepts(t *testing.T) {
	cert, key := keyPair(t)
	dir := t.TempDir()
	certFile := writeFile(t, dir, "cert.pem", cert)
	keyFile := writeFile(t, dir, "key.pem", key)
	tests := []struct {
		name string
		mut  func(*config.Config)
	}{
		{"minimal", func(*config.Config) {}},
		{"address_host_port", func(c *config.Config) { c.Server.Address = "127.0.0.1:9091" }},
		{"address_port_only", func(c *config.Config) { c.Server.Address = ":9091" }},
		{"address_ipv6", func(c *config.Config) { c.Server.Address = "tcp://[::1]:9091" }},
		{"address_port_zero", func(c *config.Config) { c.Server.Address = "127.0.0.1:0" }},
		{"address_unix", func(c *config.Config) { c.Server.Address = "unix:///run/gate.sock" }},
		{"trusted_proxies_bare_ips", func(c *config.Config) { c.Server.TrustedProxies = []string{"192.0.2.1", "2001:db8::1"} }},
		{"trusted_proxies_none", func(c *config.Config) { c.Server.TrustedProxies = nil }},
		{"log_text_debug", func(c *config.Config) { c.Log = config.Log{Level: "debug", Format: "text"} }},
		{"portal_is_session_domain", func(c *config.Config) { c.Portal.URL = "https://example.com" }},
		{"portal_with_port_and_path", func(c *config.Config) { c.Portal.URL = "http://auth.example.com:8080/gate" }},
		{"portal_domain_case", func(c *config.Config) { c.Portal.URL = "https://AUTH.Example.COM" }},
		{"default_redirect", func(c *config.Config) { c.Portal.DefaultRedirectURL = "https://www.example.com/home" }},
		{"single_label_domain", func(c *config.Config) {
			c.Session.Domain = "localhost"
			c.Portal.URL = "http://localhost:9091"
		}},
		{"inactivity_zero", func(c *config.Config) { c.Session.Inactivity = 0 }},
		{"inactivity_equals_expiration", func(c *config.Config) { c.Session.Inactivity = c.Session.Expiration }},
		{"remember_me_disabled", func(c *config.Config) { c.Session.RememberMe = config.RememberMeDisabled }},
		{"same_site_none_https", func(c *config.Config) { c.Session.SameSite = "none" }},
		{"same_site_strict", func(c *config.Config) { c.Session.SameSite = "strict" }},
		{"regulation_off", func(c *config.Config) { c.Regulation.MaxRetries = 0 }},
		{"rules", func(c *config.Config) {
			c.AccessControl.DefaultPolicy = "bypass"
			c.AccessControl.Rules = []config.Rule{
				{Domain: config.StringList{"public.example.com"}, Policy: "bypass"},
				{
					Domain:    config.StringList{"*.example.com"},
					Resources: config.StringList{"^/api/", "^/admin(/.*)?$"},
					Methods:   config.StringList{"get", "PROPFIND"},
					Networks:  config.StringList{"10.0.0.0/8", "192.0.2.7", "fd00::/8"},
					Subject:   [][]string{{"group:admins"}, {"user:bob", "group:dev"}},
					Policy:    "one_factor",
				},
				{DomainRegex: config.StringList{`^(a|b)\.example\.com$`}, Policy: "deny"},
			}
		}},
		{"redis_host", redis(nil)},
		{"redis_unix_socket", redis(func(r *config.Redis) { r.Host = "/run/redis.sock" })},
		{"redis_ipv6", redis(func(r *config.Redis) { r.Host = "[fd00::1]" })},
		{"redis_connections_default", redis(func(r *config.Redis) { r.MaximumActiveConnections, r.MinimumIdleConnections = 0, 3 })},
		{"redis_url_single", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://gate:pw@r.example.com:6379/2" })},
		{"redis_url_tls", redis(func(r *config.Redis) { r.Host, r.URL = "", "rediss://r:6380?db=1" })},
		{"redis_url_unix", redis(func(r *config.Redis) { r.Host, r.URL = "", "unix:///run/redis.sock?db=0" })},
		{"redis_url_sentinel_implicit", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://s1:26379,s2:26379,s3:26379/mymaster" })},
		{"redis_url_cluster_implicit", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://n1:6379,n2:6379,n3:6379" })},
		{"redis_url_sentinel", redis(func(r *config.Redis) {
			r.Host, r.URL = "", "redis+sentinel://u:p@s1:26379,s2:26379/mymaster?db=0&sentinel_password=x"
			r.HighAvailability = &config.RedisSentinel{SentinelPassword: "x"}
		})},
		{"redis_url_cluster_tls", redis(func(r *config.Redis) { r.Host, r.URL = "", "rediss+cluster://n1:6379,[fd00::2]:6379" })},
		{"sentinel_nodes", redis(func(r *config.Redis) {
			r.Host = ""
			r.HighAvailability = &config.RedisSentinel{SentinelName: "m", Nodes: []config.RedisNode{{Host: "s1", Port: 26379}}}
		})},
		{"sentinel_host_is_node", redis(func(r *config.Redis) {
			r.HighAvailability = &config.RedisSentinel{SentinelName: "m"}
		})},
		{"cluster_nodes", redis(func(r *config.Redis) {
			r.Host = ""
			r.Cluster = &config.RedisCluster{Nodes: []config.RedisNode{{Host: "n1", Port: 6379}, {Host: "n2", Port: 6379}}}
		})},
		{"tls_versions_bare", redisTLS(func(t *config.RedisTLS) { t.MinimumVersion, t.MaximumVersion = "1.2", "1.3" })},
		{"tls_pem_text", redisTLS(func(t *config.RedisTLS) {
			t.CertificateAuthority, t.CertificateChain, t.PrivateKey = cert, cert, key
		})},
		{"tls_pem_files", redisTLS(func(t *config.RedisTLS) {
			t.CertificateAuthority, t.CertificateChain, t.PrivateKey = certFile, certFile, keyFile
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mut(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v; want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	cert, key := keyPair(t)
	otherCert, _ := keyPair(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := writeFile(t, dir, "plain.txt", "hello")
	tests := []struct {
		name string
		mut  func(*config.Config)
		key  string
		msg  string
	}{
		// server
		{"address_empty", func(c *config.Config) { c.Server.Address = "" }, "server.address", "empty"},
		{"address_no_port", func(c *config.Config) { c.Server.Address = "9091" }, "server.address", "host:port"},
		{"address_bad_port", func(c *config.Config) { c.Server.Address = ":99999" }, "server.address", "0-65535"},
		{"address_scheme", func(c *config.Config) { c.Server.Address = "http://0.0.0.0:9091" }, "server.address", "unknown scheme"},
		{"address_path", func(c *config.Config) { c.Server.Address = "tcp://0.0.0.0:9091/gate" }, "server.address", ""},
		{"address_unix_relative", func(c *config.Config) { c.Server.Address = "unix://run/gate.sock" }, "server.address", "absolute"},
		{"read_timeout_zero", func(c *config.Config) { c.Server.ReadTimeout = 0 }, "server.read_timeout", "positive"},
		{"write_timeout_negative", func(c *config.Config) { c.Server.WriteTimeout = -time.Second }, "server.write_timeout", "positive"},
		{"idle_timeout_zero", func(c *config.Config) { c.Server.IdleTimeout = 0 }, "server.idle_timeout", "positive"},
		{"trusted_proxy_bad_cidr", func(c *config.Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/33"} }, "server.trusted_proxies[1]", "invalid CIDR"},
		{"trusted_proxy_garbage", func(c *config.Config) { c.Server.TrustedProxies = []string{"proxy"} }, "server.trusted_proxies[0]", "invalid CIDR or IP"},
		// log
		{"log_level", func(c *config.Config) { c.Log.Level = "verbose" }, "log.level", `got "verbose"`},
		{"log_format", func(c *config.Config) { c.Log.Format = "xml" }, "log.format", `got "xml"`},
		// portal
		{"portal_missing", func(c *config.Config) { c.Portal.URL = "" }, "portal.url", "required"},
		{"portal_relative", func(c *config.Config) { c.Portal.URL = "/login" }, "portal.url", "absolute"},
		{"portal_scheme", func(c *config.Config) { c.Portal.URL = "ftp://auth.example.com" }, "portal.url", "http or https"},
		{"portal_outside_domain", func(c *config.Config) { c.Portal.URL = "https://auth.example.org" }, "portal.url", "not session.domain"},
		{"portal_suffix_trick", func(c *config.Config) { c.Portal.URL = "https://badexample.com" }, "portal.url", "not session.domain"},
		{"portal_parent_trick", func(c *config.Config) { c.Portal.URL = "https://example.com.evil.com" }, "portal.url", "not session.domain"},
		{"portal_userinfo", func(c *config.Config) { c.Portal.URL = "https://u@auth.example.com" }, "portal.url", "user-info"},
		{"portal_query", func(c *config.Config) { c.Portal.URL = "https://auth.example.com/?x=1" }, "portal.url", "no query"},
		{"default_redirect_relative", func(c *config.Config) { c.Portal.DefaultRedirectURL = "/home" }, "portal.default_redirect_url", "absolute"},
		{"default_redirect_outside", func(c *config.Config) { c.Portal.DefaultRedirectURL = "https://evil.com" }, "portal.default_redirect_url", "not session.domain"},
		{"default_redirect_http", func(c *config.Config) { c.Portal.DefaultRedirectURL = "http://www.example.com" }, "portal.default_redirect_url", "https"},
		// authentication backend
		{"users_file_missing_key", func(c *config.Config) { c.AuthenticationBackend.File.Path = "" }, "authentication_backend.file.path", "required"},
		{"users_file_unreadable", func(c *config.Config) { c.AuthenticationBackend.File.Path = missing }, "authentication_backend.file.path", "no such file"},
		{"users_file_directory", func(c *config.Config) { c.AuthenticationBackend.File.Path = dir }, "authentication_backend.file.path", "directory"},
		// access control
		{"default_policy", func(c *config.Config) { c.AccessControl.DefaultPolicy = "allow" }, "access_control.default_policy", `got "allow"`},
		{"default_policy_two_factor", func(c *config.Config) { c.AccessControl.DefaultPolicy = "two_factor" }, "access_control.default_policy", "not supported"},
		{"rule_policy_unknown", rule(config.Rule{Domain: config.StringList{"a.example.com"}, Policy: "permit"}), "access_control.rules[0].policy", `got "permit"`},
		{"rule_policy_missing", rule(config.Rule{Domain: config.StringList{"a.example.com"}}), "access_control.rules[0].policy", "required"},
		{"rule_without_domain", rule(config.Rule{Resources: config.StringList{"^/"}, Policy: "deny"}), "access_control.rules[0]", "needs domain or domain_regex"},
		{"rule_domain_wildcard_middle", rule(config.Rule{Domain: config.StringList{"a.example.com", "a.*.example.com"}, Policy: "deny"}), "access_control.rules[0].domain[1]", "wildcard"},
		{"rule_domain_bare_star", rule(config.Rule{Domain: config.StringList{"*"}, Policy: "deny"}), "access_control.rules[0].domain[0]", "wildcard"},
		{"rule_domain_url", rule(config.Rule{Domain: config.StringList{"https://a.example.com"}, Policy: "deny"}), "access_control.rules[0].domain[0]", "host name"},
		{"rule_domain_regex", rule(config.Rule{DomainRegex: config.StringList{"(a"}, Policy: "deny"}), "access_control.rules[0].domain_regex[0]", "invalid regex"},
		{"rule_resource_regex", rule(config.Rule{Domain: config.StringList{"a.example.com"}, Resources: config.StringList{"^/ok", "^/(bad"}, Policy: "deny"}), "access_control.rules[0].resources[1]", "invalid regex"},
		{"rule_path_regex", rule(config.Rule{Domain: config.StringList{"a.example.com"}, Paths: config.StringList{"^/ok", "^/(bad"}, Policy: "deny"}), "access_control.rules[0].paths[1]", "invalid regex"},
		{"rule_method", rule(config.Rule{Domain: config.StringList{"a.example.com"}, Methods: config.StringList{"GET", "NOT A METHOD"}, Policy: "deny"}), "access_control.rules[0].methods[1]", "HTTP method"},
		{"rule_network", rule(config.Rule{Domain: config.StringList{"a.example.com"}, Networks: config.StringList{"10.0.0.0/40"}, Policy: "deny"}), "access_control.rules[0].networks[0]", "invalid CIDR"},
		{"rule_subject_prefix", rule(config.Rule{Domain: config.StringList{"a.example.com"}, Subject: [][]string{{"group:a"}, {"user:b", "role:c"}}, Policy: "one_factor"}), "access_control.rules[0].subject[1][1]", "user:NAME or group:NAME"},
		{"rule_subject_empty_name", rule(config.Rule{Domain: config.StringList{"a.example.com"}, Subject: [][]string{{"user:"}}, Policy: "one_factor"}), "access_control.rules[0].subject[0][0]", "user:NAME"},
		{"rule_subject_empty_group", rule(config.Rule{Domain: config.StringList{"a.example.com"}, Subject: [][]string{{}}, Policy: "one_factor"}), "access_control.rules[0].subject[0]", "empty subject"},
		// regulation
		{"max_retries_negative", func(c *config.Config) { c.Regulation.MaxRetries = -1 }, "regulation.max_retries", "0 (regulation off) or more"},
		{"find_time_zero", func(c *config.Config) { c.Regulation.FindTime = 0 }, "regulation.find_time", "positive"},
		{"ban_time_negative", func(c *config.Config) { c.Regulation.BanTime = -time.Minute }, "regulation.ban_time", "positive"},
		// session
		{"name_missing", func(c *config.Config) { c.Session.Name = "" }, "session.name", "required"},
		{"name_invalid", func(c *config.Config) { c.Session.Name = "gate session" }, "session.name", "cookie name"},
		{"name_host_prefix", func(c *config.Config) { c.Session.Name = "__Host-gate" }, "session.name", "__Host-"},
		{"name_secure_prefix_http", func(c *config.Config) {
			c.Session.Name = "__Secure-gate"
			c.Portal.URL = "http://auth.example.com"
		}, "session.name", "https"},
		{"secret_missing", func(c *config.Config) { c.Session.Secret = "" }, "session.secret", "required"},
		{"secret_short", func(c *config.Config) { c.Session.Secret = strings.Repeat("x", 31) }, "session.secret", "too short: 31"},
		{"domain_missing", func(c *config.Config) { c.Session.Domain = "" }, "session.domain", "required"},
		{"domain_leading_dot", func(c *config.Config) { c.Session.Domain = ".example.com" }, "session.domain", "leading dot"},
		{"domain_url", func(c *config.Config) { c.Session.Domain = "https://example.com" }, "session.domain", "bare domain"},
		{"domain_not_parent_of_portal", func(c *config.Config) { c.Session.Domain = "other.example.com" }, "portal.url", "not session.domain"},
		{"expiration_zero", func(c *config.Config) { c.Session.Expiration = 0 }, "session.expiration", "positive"},
		{"inactivity_negative", func(c *config.Config) { c.Session.Inactivity = -time.Second }, "session.inactivity", "0 (no limit) or positive"},
		{"inactivity_longer_than_expiration", func(c *config.Config) { c.Session.Inactivity = 2 * time.Hour }, "session.inactivity", "longer than session.expiration"},
		{"remember_me_zero", func(c *config.Config) { c.Session.RememberMe = 0 }, "session.remember_me", "-1 to disable"},
		{"remember_me_minus_two", func(c *config.Config) { c.Session.RememberMe = -2 * time.Second }, "session.remember_me", "-1 to disable"},
		{"remember_me_negative_millis", func(c *config.Config) { c.Session.RememberMe = -time.Millisecond }, "session.remember_me", "-1 to disable"},
		{"same_site_unknown", func(c *config.Config) { c.Session.SameSite = "loose" }, "session.same_site", `got "loose"`},
		{"same_site_none_http", func(c *config.Config) {
			c.Session.SameSite = "none"
			c.Portal.URL = "http://auth.example.com"
		}, "session.same_site", "https"},
		// redis
		{"redis_nothing_to_reach", redis(func(r *config.Redis) { r.Host = "" }), "session.redis", "needs host, url"},
		{"redis_host_with_port", redis(func(r *config.Redis) { r.Host = "r:6379" }), "session.redis.host", "without port"},
		{"redis_host_bare_ipv6", redis(func(r *config.Redis) { r.Host = "fd00::1" }), "session.redis.host", "brackets"},
		{"redis_host_bad_ipv6", redis(func(r *config.Redis) { r.Host = "[fd00::zz]" }), "session.redis.host", "IPv6"},
		{"redis_host_garbage", redis(func(r *config.Redis) { r.Host = "r e d i s" }), "session.redis.host", "invalid host"},
		{"redis_port_zero", redis(func(r *config.Redis) { r.Port = 0 }), "session.redis.port", "1-65535"},
		{"redis_port_high", redis(func(r *config.Redis) { r.Port = 65536 }), "session.redis.port", "1-65535"},
		{"redis_database_index", redis(func(r *config.Redis) { r.DatabaseIndex = -1 }), "session.redis.database_index", "0 or more"},
		{"redis_max_active_negative", redis(func(r *config.Redis) { r.MaximumActiveConnections = -1 }), "session.redis.maximum_active_connections", "0 (the client's default) or more"},
		{"redis_min_idle_negative", redis(func(r *config.Redis) { r.MinimumIdleConnections = -1 }), "session.redis.minimum_idle_connections", "0 or more"},
		{"redis_min_idle_above_max", redis(func(r *config.Redis) { r.MinimumIdleConnections = 9 }), "session.redis.minimum_idle_connections", "more than maximum_active_connections"},
		{"redis_timeout", redis(func(r *config.Redis) { r.Timeout = 0 }), "session.redis.timeout", "positive"},
		{"redis_max_retries", redis(func(r *config.Redis) { r.MaxRetries = -1 }), "session.redis.max_retries", "0 (no retries) or more"},
		{"redis_session_prefix_empty", redis(func(r *config.Redis) { r.SessionPrefix = "" }), "session.redis.session_prefix", "required"},
		{"redis_state_prefix_braces", redis(func(r *config.Redis) { r.StatePrefix = "{gate}:" }), "session.redis.state_prefix", "{ or }"},
		{"redis_prefix_space", redis(func(r *config.Redis) { r.StatePrefix = "gate state:" }), "session.redis.state_prefix", "spaces"},
		{"redis_prefixes_equal", redis(func(r *config.Redis) { r.StatePrefix = r.SessionPrefix }), "session.redis.state_prefix", "differ"},
		{"redis_url_and_host", redis(func(r *config.Redis) { r.URL = "redis://r:6379" }), "session.redis.url", "together with session.redis.host"},
		{"redis_url_scheme", redis(func(r *config.Redis) { r.Host, r.URL = "", "http://r:6379" }), "session.redis.url", "scheme must be"},
		{"redis_url_not_url", redis(func(r *config.Redis) { r.Host, r.URL = "", "r:6379" }), "session.redis.url", "must be a URL"},
		{"redis_url_no_host", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis:///0" }), "session.redis.url", "no host"},
		{"redis_url_bad_port", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://r:0/0" }), "session.redis.url", "host 1: port"},
		{"redis_url_second_host_bad", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://r1:6379,r 2:6379" }), "session.redis.url", "host 2"},
		{"redis_url_bad_db", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://r:6379/zero" }), "session.redis.url", "database number"},
		{"redis_url_bad_query_db", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://r:6379?db=-1" }), "session.redis.url", "db must be"},
		{"redis_url_hosts_numeric_path", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://a,b/0" }), "session.redis.url", "several hosts"},
		{"redis_url_sentinel_no_master", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis+sentinel://s1:26379" }), "session.redis.url", "master name"},
		{"redis_url_cluster_path", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis+cluster://n1:6379/0" }), "session.redis.url", "no path"},
		{"redis_url_cluster_db", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis+cluster://n1:6379?db=1" }), "session.redis.url", "only database 0"},
		{"redis_url_unix_no_path", redis(func(r *config.Redis) { r.Host, r.URL = "", "unix://" }), "session.redis.url", "socket path"},
		{"redis_url_fragment", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://r#x" }), "session.redis.url", "fragment"},
		{"redis_url_bad_userinfo", redis(func(r *config.Redis) { r.Host, r.URL = "", "redis://u:%zz@r" }), "session.redis.url", "user-info"},
		{"sentinel_name_missing", redis(func(r *config.Redis) {
			r.HighAvailability = &config.RedisSentinel{}
		}), "session.redis.high_availability.sentinel_name", "required"},
		{"sentinel_no_node", redis(func(r *config.Redis) {
			r.Host = ""
			r.HighAvailability = &config.RedisSentinel{SentinelName: "m"}
		}), "session.redis.high_availability.nodes", "at least one"},
		{"sentinel_node_port", redis(func(r *config.Redis) {
			r.HighAvailability = &config.RedisSentinel{SentinelName: "m", Nodes: []config.RedisNode{{Host: "s1", Port: 26379}, {Host: "s2", Port: 70000}}}
		}), "session.redis.high_availability.nodes[1].port", "1-65535"},
		{"sentinel_node_host", redis(func(r *config.Redis) {
			r.HighAvailability = &config.RedisSentinel{SentinelName: "m", Nodes: []config.RedisNode{{Port: 26379}}}
		}), "session.redis.high_availability.nodes[0].host", "required"},
		{"cluster_and_sentinel", redis(func(r *config.Redis) {
			r.HighAvailability = &config.RedisSentinel{SentinelName: "m"}
			r.Cluster = &config.RedisCluster{}
		}), "session.redis.cluster", "together with session.redis.high_availability"},
		{"cluster_no_node", redis(func(r *config.Redis) {
			r.Host = ""
			r.Cluster = &config.RedisCluster{}
		}), "session.redis.cluster.nodes", "at least one"},
		{"cluster_node_port", redis(func(r *config.Redis) {
			r.Cluster = &config.RedisCluster{Nodes: []config.RedisNode{{Host: "n1"}}}
		}), "session.redis.cluster.nodes[0].port", "1-65535"},
		{"cluster_database_index", redis(func(r *config.Redis) {
			r.DatabaseIndex = 1
			r.Cluster = &config.RedisCluster{}
		}), "session.redis.database_index", "only database 0"},
		// redis tls
		{"tls_min_version", redisTLS(func(t *config.RedisTLS) { t.MinimumVersion = "SSL3.0" }), "session.redis.tls.minimum_version", "TLS1.0, TLS1.1, TLS1.2 or TLS1.3"},
		{"tls_max_version", redisTLS(func(t *config.RedisTLS) { t.MaximumVersion = "TLS1.4" }), "session.redis.tls.maximum_version", "TLS1.0"},
		{"tls_min_above_max", redisTLS(func(t *config.RedisTLS) { t.MinimumVersion, t.MaximumVersion = "TLS1.3", "TLS1.2" }), "session.redis.tls.minimum_version", "above maximum_version"},
		{"tls_key_without_chain", redisTLS(func(t *config.RedisTLS) { t.PrivateKey = key }), "session.redis.tls.certificate_chain", "required with private_key"},
		{"tls_chain_without_key", redisTLS(func(t *config.RedisTLS) { t.CertificateChain = cert }), "session.redis.tls.private_key", "required with certificate_chain"},
		{"tls_ca_missing_file", redisTLS(func(t *config.RedisTLS) { t.CertificateAuthority = missing }), "session.redis.tls.certificate_authority", "no such file"},
		{"tls_ca_not_pem", redisTLS(func(t *config.RedisTLS) { t.CertificateAuthority = notPEM }), "session.redis.tls.certificate_authority", "no PEM data"},
		{"tls_ca_key_not_cert", redisTLS(func(t *config.RedisTLS) { t.CertificateAuthority = key }), "session.redis.tls.certificate_authority", "no certificate"},
		{"tls_chain_not_pem", redisTLS(func(t *config.RedisTLS) { t.CertificateChain, t.PrivateKey = notPEM, key }), "session.redis.tls.certificate_chain", "no PEM data"},
		{"tls_key_missing_file", redisTLS(func(t *config.RedisTLS) { t.CertificateChain, t.PrivateKey = cert, missing }), "session.redis.tls.private_key", "no such file"},
		{"tls_key_mismatch", redisTLS(func(t *config.RedisTLS) { t.CertificateChain, t.PrivateKey = otherCert, key }), "session.redis.tls.private_key", "key pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mut(&c)
			err := c.Validate()
			wantProblem(t, err, tt.key, tt.msg)
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, tt.key+": ") && !strings.Contains(line, ": ") {
					t.Errorf("line %q is not key: message", line)
				}
			}
		})
	}
}

func TestValidateCanonicalizes(t *testing.T) {
	c := validConfig(t)
	c.Session.Domain = "Example.COM"
	c.AccessControl.Rules = []config.Rule{{
		Domain:  config.StringList{"*.Example.com"},
		Methods: config.StringList{"get", "Post"},
		Policy:  "deny",
	}}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	r := c.AccessControl.Rules[0]
	if got, want := strings.Join(r.Methods, ","), "GET,POST"; got != want {
		t.Errorf("methods = %s; want %s", got, want)
	}
	if got, want := r.Domain[0], "*.example.com"; got != want {
		t.Errorf("domain = %s; want %s", got, want)
	}
	if got, want := c.Session.Domain, "example.com"; got != want {
		t.Errorf("session.domain = %s; want %s", got, want)
	}
}

func TestValidateNeverPrintsSecrets(t *testing.T) {
	const mark = "Zq7MARKERsecret"
	keyFile := writeFile(t, t.TempDir(), "key.pem", "-----BEGIN PRIVATE KEY-----\n"+mark+"\n-----END PRIVATE KEY-----\n")
	c := validConfig(t)
	c.Session.Secret = mark
	redis(func(r *config.Redis) {
		r.Password = mark
		r.URL = "rediss://" + mark + ":" + mark + "@" + mark + ":0/" + mark
		r.HighAvailability = &config.RedisSentinel{SentinelPassword: mark}
		r.TLS = &config.RedisTLS{PrivateKey: mark, CertificateChain: keyFile}
	})(&c)
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil; want problems")
	}
	if strings.Contains(err.Error(), "MARKER") {
		t.Errorf("error carries a secret:\n%v", err)
	}
	c.Session.Redis.TLS = &config.RedisTLS{PrivateKey: keyFile, CertificateChain: keyFile}
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "MARKER") {
		t.Errorf("Validate() = %v; want problems without the key content", err)
	}
}

func TestValidateUsersFileUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	c := validConfig(t)
	if err := os.Chmod(c.AuthenticationBackend.File.Path, 0); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, c.Validate(), "authentication_backend.file.path", "permission denied")
}
