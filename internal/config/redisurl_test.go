package config_test

import (
	"reflect"
	"strings"
	"testing"

	"gate/internal/config"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want config.RedisURL
	}{
		{"host_port_db", "redis://cache.example.com:6380/3",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"cache.example.com:6380"}, DB: 3, HasDB: true}},
		{"default_port_no_path", "redis://10.0.0.5",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"10.0.0.5:6379"}}},
		{"acl_user_info", "redis://gate:p%40ss%3Aw0rd@h:6379/0",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"h:6379"}, HasAuth: true, Username: "gate", Password: "p@ss:w0rd", HasDB: true}},
		{"requirepass_user_info", "redis://:secret@h",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"h:6379"}, HasAuth: true, Password: "secret"}},
		{"bare_user_info_is_a_password", "redis://secret@h",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"h:6379"}, HasAuth: true, Password: "secret"}},
		{"db_query", "redis://h:6379?db=9",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"h:6379"}, DB: 9, HasDB: true}},
		{"db_query_wins_over_path", "redis://h/1?db=2",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"h:6379"}, DB: 2, HasDB: true}},
		{"ipv6", "redis://[fd00::1]:6390/0",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"[fd00::1]:6390"}, HasDB: true}},
		{"ipv6_default_port", "redis://[::1]",
			config.RedisURL{Topology: config.TopologySingle, Hosts: []string{"[::1]:6379"}}},
		{"tls", "rediss://h:6380/0",
			config.RedisURL{TLS: true, Topology: config.TopologySingle, Hosts: []string{"h:6380"}, HasDB: true}},
		{"upper_case_scheme", "REDISS://h",
			config.RedisURL{TLS: true, Topology: config.TopologySingle, Hosts: []string{"h:6379"}}},
		{"unix", "unix:///run/redis/redis.sock?db=4",
			config.RedisURL{Topology: config.TopologySingle, Socket: "/run/redis/redis.sock", DB: 4, HasDB: true}},
		{"unix_user_info", "unix://gate:pw@/run/redis.sock",
			config.RedisURL{Topology: config.TopologySingle, Socket: "/run/redis.sock", HasAuth: true, Username: "gate", Password: "pw"}},
		{"sentinel_implicit", "redis://s1:26379,s2:26380,s3/mymaster",
			config.RedisURL{Topology: config.TopologySentinel, Hosts: []string{"s1:26379", "s2:26380", "s3:26379"}, Master: "mymaster"}},
		{"sentinel_explicit_one_host", "redis+sentinel://:mpw@s1/mymaster?db=2",
			config.RedisURL{Topology: config.TopologySentinel, Hosts: []string{"s1:26379"}, Master: "mymaster", HasAuth: true, Password: "mpw", DB: 2, HasDB: true}},
		{"sentinel_credentials_in_query", "rediss+sentinel://u:p@s1,s2/m?sentinel_username=su&sentinel_password=sp",
			config.RedisURL{TLS: true, Topology: config.TopologySentinel, Hosts: []string{"s1:26379", "s2:26379"}, Master: "m", HasAuth: true, Username: "u", Password: "p",
				SentinelUsername: "su", HasSentinelUsername: true, SentinelPassword: "sp", HasSentinelPassword: true}},
		{"cluster_implicit", "redis://n1:7000,n2:7001,n3",
			config.RedisURL{Topology: config.TopologyCluster, Hosts: []string{"n1:7000", "n2:7001", "n3:6379"}}},
		{"cluster_explicit_one_host", "redis+cluster://:pw@n1:7000",
			config.RedisURL{Topology: config.TopologyCluster, Hosts: []string{"n1:7000"}, HasAuth: true, Password: "pw"}},
		{"cluster_tls", "rediss+cluster://n1,n2",
			config.RedisURL{TLS: true, Topology: config.TopologyCluster, Hosts: []string{"n1:6379", "n2:6379"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ParseRedisURL(tt.url)
			if err != nil {
				t.Fatalf("ParseRedisURL(%q): %v", tt.url, err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ParseRedisURL(%q) = %+v; want %+v", tt.url, *got, tt.want)
			}
		})
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	const secret = "Sup3rSecret"
	tests := []struct {
		name, url, want string
	}{
		{"no_scheme", "h:6379", "must be a URL"},
		{"unknown_scheme", "http://h", "scheme must be"},
		{"unknown_flavour", "redis+proxy://h", "scheme must be"},
		{"fragment", "redis://:" + secret + "@h#x", "fragment"},
		{"no_host", "redis://:" + secret + "@/0", "names no host"},
		{"empty_host_in_list", "redis://a,,b", "host 2"},
		{"bad_port", "redis://:" + secret + "@h:0", "port must be 1-65535"},
		{"port_not_numeric", "redis://h:abc", "port must be 1-65535"},
		{"empty_port", "redis://h:", "port must be 1-65535"},
		{"unclosed_ipv6", "redis://[fd00::1:6379", "unclosed ["},
		{"bad_ipv6", "redis://[nothex]:6379", "invalid IPv6"},
		{"two_path_segments", "redis://h/0/1", "one segment"},
		{"name_for_one_host", "redis://h/mymaster", "must be a database number"},
		{"db_for_several_hosts", "redis://a,b/0", "Sentinel master name"},
		{"sentinel_without_master", "redis+sentinel://s1", "ends in the master name"},
		{"sentinel_numeric_master", "redis+sentinel://s1/0", "ends in the master name"},
		{"cluster_with_path", "redis+cluster://n1/x", "takes no path"},
		{"cluster_with_db", "redis://a,b?db=1", "takes no db"},
		{"unknown_parameter", "redis://h?dial_timeout=1s", `unknown query parameter "dial_timeout"`},
		{"repeated_parameter", "redis://h?db=1&db=2", "given 2 times"},
		{"negative_db", "redis://h?db=-1", "db must be"},
		{"huge_db", "redis://h/99999999999999999999", "out of range"},
		{"sentinel_credentials_elsewhere", "redis://h?sentinel_password=" + secret, "belong to Sentinel URLs"},
		{"bad_escape", "redis://u:%zz" + secret + "@h", "percent-encode"},
		{"unix_without_path", "unix://", "absolute socket path"},
		{"unix_with_host", "unix://host/run/redis.sock", "absolute socket path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.ParseRedisURL(tt.url)
			if err == nil {
				t.Fatalf("ParseRedisURL(%q) = nil error; want one mentioning %q", tt.url, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRedisURL(%q) = %v; want one mentioning %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}
