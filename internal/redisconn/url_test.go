package redisconn

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want redisURL
	}{
		{"host_port_db", "redis://cache.example.com:6380/3",
			redisURL{mode: Single, hosts: []string{"cache.example.com:6380"}, db: 3, hasDB: true}},
		{"default_port_no_path", "redis://10.0.0.5",
			redisURL{mode: Single, hosts: []string{"10.0.0.5:6379"}}},
		{"acl_user_info", "redis://gate:p%40ss%3Aw0rd@h:6379/0",
			redisURL{mode: Single, hosts: []string{"h:6379"}, hasAuth: true, username: "gate", password: "p@ss:w0rd", hasDB: true}},
		{"requirepass_user_info", "redis://:secret@h",
			redisURL{mode: Single, hosts: []string{"h:6379"}, hasAuth: true, password: "secret"}},
		{"bare_user_info_is_a_password", "redis://secret@h",
			redisURL{mode: Single, hosts: []string{"h:6379"}, hasAuth: true, password: "secret"}},
		{"db_query", "redis://h:6379?db=9",
			redisURL{mode: Single, hosts: []string{"h:6379"}, db: 9, hasDB: true}},
		{"db_query_wins_over_path", "redis://h/1?db=2",
			redisURL{mode: Single, hosts: []string{"h:6379"}, db: 2, hasDB: true}},
		{"ipv6", "redis://[fd00::1]:6390/0",
			redisURL{mode: Single, hosts: []string{"[fd00::1]:6390"}, hasDB: true}},
		{"ipv6_default_port", "redis://[::1]",
			redisURL{mode: Single, hosts: []string{"[::1]:6379"}}},
		{"tls", "rediss://h:6380/0",
			redisURL{tls: true, mode: Single, hosts: []string{"h:6380"}, hasDB: true}},
		{"upper_case_scheme", "REDISS://h",
			redisURL{tls: true, mode: Single, hosts: []string{"h:6379"}}},
		{"unix", "unix:///run/redis/redis.sock?db=4",
			redisURL{mode: Single, socket: "/run/redis/redis.sock", db: 4, hasDB: true}},
		{"unix_user_info", "unix://gate:pw@/run/redis.sock",
			redisURL{mode: Single, socket: "/run/redis.sock", hasAuth: true, username: "gate", password: "pw"}},
		{"sentinel_implicit", "redis://s1:26379,s2:26380,s3/mymaster",
			redisURL{mode: Sentinel, hosts: []string{"s1:26379", "s2:26380", "s3:26379"}, master: "mymaster"}},
		{"sentinel_explicit_one_host", "redis+sentinel://:mpw@s1/mymaster?db=2",
			redisURL{mode: Sentinel, hosts: []string{"s1:26379"}, master: "mymaster", hasAuth: true, password: "mpw", db: 2, hasDB: true}},
		{"sentinel_credentials_in_query", "rediss+sentinel://u:p@s1,s2/m?sentinel_username=su&sentinel_password=sp",
			redisURL{tls: true, mode: Sentinel, hosts: []string{"s1:26379", "s2:26379"}, master: "m", hasAuth: true, username: "u", password: "p",
				sentinelUsername: "su", hasSentinelUsername: true, sentinelPassword: "sp", hasSentinelPassword: true}},
		{"cluster_implicit", "redis://n1:7000,n2:7001,n3",
			redisURL{mode: Cluster, hosts: []string{"n1:7000", "n2:7001", "n3:6379"}}},
		{"cluster_explicit_one_host", "redis+cluster://:pw@n1:7000",
			redisURL{mode: Cluster, hosts: []string{"n1:7000"}, hasAuth: true, password: "pw"}},
		{"cluster_tls", "rediss+cluster://n1,n2",
			redisURL{tls: true, mode: Cluster, hosts: []string{"n1:6379", "n2:6379"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseURL(tt.url)
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tt.url, err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("parseURL(%q) = %+v; want %+v", tt.url, *got, tt.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
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
			_, err := parseURL(tt.url)
			if err == nil {
				t.Fatalf("parseURL(%q) = nil error; want one mentioning %q", tt.url, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseURL(%q) = %v; want one mentioning %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}
