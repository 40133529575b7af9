package config_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gate/internal/config"
)

func TestLoadDefaults(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t))
	want := config.Default()
	want.Portal.URL = "https://auth.example.com"
	want.Session.Secret = testSecret
	want.Session.Domain = "example.com"
	want.AuthenticationBackend.File.Path = c.AuthenticationBackend.File.Path
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("Load = %+v; want %+v", *c, want)
	}
	if got, want := c.Session.Redis, (*config.Redis)(nil); got != want {
		t.Errorf("Session.Redis = %+v; want nil (memory store)", got)
	}
}

func TestDefault(t *testing.T) {
	c := config.Default()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"server_address", c.Server.Address, "tcp://0.0.0.0:9091"},
		{"read_timeout", c.Server.ReadTimeout, 10 * time.Second},
		{"write_timeout", c.Server.WriteTimeout, 10 * time.Second},
		{"idle_timeout", c.Server.IdleTimeout, 60 * time.Second},
		{"trusted_proxies", c.Server.TrustedProxies, []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}},
		{"log_level", c.Log.Level, "info"},
		{"log_format", c.Log.Format, "json"},
		{"default_policy", c.AccessControl.DefaultPolicy, "deny"},
		{"max_retries", c.Regulation.MaxRetries, 3},
		{"find_time", c.Regulation.FindTime, 2 * time.Minute},
		{"ban_time", c.Regulation.BanTime, 5 * time.Minute},
		{"session_name", c.Session.Name, "gate_session"},
		{"expiration", c.Session.Expiration, time.Hour},
		{"inactivity", c.Session.Inactivity, 5 * time.Minute},
		{"remember_me", c.Session.RememberMe, 30 * 24 * time.Hour},
		{"same_site", c.Session.SameSite, "lax"},
		{"redis", c.Session.Redis, (*config.Redis)(nil)},
		{"metrics", c.Metrics.Enabled, true},
		{"watch", c.AuthenticationBackend.File.Watch, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v; want %v", tt.got, tt.want)
			}
		})
	}
}

func TestLoadRedisDefaults(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), `
session:
  redis:
    host: 127.0.0.1
    tls: {}
`)
	r := c.Session.Redis
	if r == nil {
		t.Fatal("Session.Redis = nil; want the redis section")
	}
	want := config.Redis{
		Host:                     "127.0.0.1",
		Port:                     6379,
		MaximumActiveConnections: 8,
		Timeout:                  5 * time.Second,
		SessionPrefix:            "gate:session:",
		StatePrefix:              "gate:state:",
		TLS:                      &config.RedisTLS{MinimumVersion: "TLS1.2"},
		LocalCache:               config.RedisLocalCache{Enabled: true, MaxEntries: 100_000},
	}
	if !reflect.DeepEqual(*r, want) {
		t.Errorf("Session.Redis = %+v; want %+v", *r, want)
	}
}

func TestLoadRedisSectionPresence(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		present bool
	}{
		{"absent", ``, nil, false},
		{"empty_mapping_present", "session:\n  redis: {host: r}\n", nil, true},
		{"env_creates_section", ``, map[string]string{"GATE_SESSION_REDIS_HOST": "redis.internal"}, true},
		{"env_nested_creates_section", ``, map[string]string{"GATE_SESSION_REDIS_URL": "redis://r:6379/0"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env, baseYAML(t), tt.yaml)
			if got := c.Session.Redis != nil; got != tt.present {
				t.Fatalf("redis present = %v; want %v", got, tt.present)
			}
			if tt.present && c.Session.Redis.Port != 6379 {
				t.Errorf("Port = %d; want the default 6379", c.Session.Redis.Port)
			}
		})
	}
}

func TestLoadNullSection(t *testing.T) {
	// "redis:" with everything below commented out still selects Redis, and
	// then needs a host.
	_, err := loadYAML(t, nil, baseYAML(t), "session:\n  redis:\n")
	wantProblem(t, err, "session.redis", "needs host, url")
}

func TestLoadNullScalarKeepsDefault(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), "log:\n  level:\n")
	if got, want := c.Log.Level, "info"; got != want {
		t.Errorf("Log.Level = %q; want %q", got, want)
	}
}

func TestLoadNodePortDefaults(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), `
session:
  redis:
    high_availability:
      sentinel_name: mymaster
      nodes:
        - host: s1
        - host: s2
          port: 5000
`)
	ha := c.Session.Redis.HighAvailability
	if got, want := []int{ha.Nodes[0].Port, ha.Nodes[1].Port}, []int{26379, 5000}; !slices.Equal(got, want) {
		t.Errorf("sentinel ports = %v; want %v", got, want)
	}

	c = mustLoad(t, nil, baseYAML(t), `
session:
  redis:
    cluster:
      nodes: [{host: n1}, {host: n2, port: 7000}]
`)
	cl := c.Session.Redis.Cluster
	if got, want := []int{cl.Nodes[0].Port, cl.Nodes[1].Port}, []int{6379, 7000}; !slices.Equal(got, want) {
		t.Errorf("cluster ports = %v; want %v", got, want)
	}
}

func TestLoadUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
	}{
		{"top_level", "sesion: {}\n", "sesion"},
		{"nested", "session:\n  expiraton: 1h\n", "session.expiraton"},
		{"deep", "session:\n  redis:\n    host: r\n    tls:\n      skip_verfy: true\n", "session.redis.tls.skip_verfy"},
		{"list_item", `
access_control:
  rules:
    - domain: a.example.com
      policy: bypass
    - domain: b.example.com
      policy: bypass
    - domain: c.example.com
      polcy: deny
`, "access_control.rules[2].polcy"},
		{"node_list_item", `
session:
  redis:
    high_availability:
      sentinel_name: m
      nodes:
        - host: s1
          prot: 1
`, "session.redis.high_availability.nodes[0].prot"},
		{"odd_key_quoted", "\"log level\": debug\n", `"log level"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, nil, baseYAML(t), tt.yaml)
			wantProblem(t, err, tt.key, "unknown key")
		})
	}
}

func TestLoadRememberMeAlias(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), "session:\n  remember_me_duration: 2w\n")
	if got, want := c.Session.RememberMe, 14*24*time.Hour; got != want {
		t.Errorf("RememberMe = %v; want %v", got, want)
	}
	_, err := loadYAML(t, nil, baseYAML(t), "session:\n  remember_me: 1w\n  remember_me_duration: 2w\n")
	wantProblem(t, err, "session.remember_me_duration", "together with session.remember_me")
}

func TestLoadRememberMe(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    time.Duration
		enabled bool
	}{
		{"integer_minus_one", "-1", config.RememberMeDisabled, false},
		{"string_minus_one", `"-1"`, config.RememberMeDisabled, false},
		{"month", "1M", 30 * 24 * time.Hour, true},
		{"plain_seconds", "3600", time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, nil, baseYAML(t), "session:\n  remember_me: "+tt.value+"\n")
			if got := c.Session.RememberMe; got != tt.want {
				t.Errorf("RememberMe = %v; want %v", got, tt.want)
			}
			if got := c.Session.RememberMeEnabled(); got != tt.enabled {
				t.Errorf("RememberMeEnabled() = %v; want %v", got, tt.enabled)
			}
		})
	}
}

func TestLoadDurations(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{"yaml_integer", "90", 90 * time.Second},
		{"yaml_numeric_string", `"90"`, 90 * time.Second},
		{"go_notation", "1h30m", 90 * time.Minute},
		{"days", "1d", 24 * time.Hour},
		{"combined", "1d12h", 36 * time.Hour},
		{"yaml_whole_float", "120.0", 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, nil, baseYAML(t), "session:\n  expiration: "+tt.value+"\n  inactivity: 0\n")
			if got := c.Session.Expiration; got != tt.want {
				t.Errorf("Expiration = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestLoadDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
		msg  string
	}{
		{"bad_duration", "session:\n  expiration: soon\n", "session.expiration", `invalid duration "soon"`},
		{"duration_overflow", "regulation:\n  ban_time: 300y\n", "regulation.ban_time", "out of range"},
		{"duration_integer_overflow", "regulation:\n  ban_time: 99999999999\n", "regulation.ban_time", "out of range"},
		{"duration_fraction", "regulation:\n  ban_time: 1.5\n", "regulation.ban_time", "whole seconds"},
		{"duration_list", "regulation:\n  ban_time: [1]\n", "regulation.ban_time", "must be a duration"},
		{"integer_from_text", "regulation:\n  max_retries: many\n", "regulation.max_retries", "must be an integer"},
		{"integer_from_list", "regulation:\n  max_retries: [1]\n", "regulation.max_retries", "must be an integer"},
		{"bool_from_text", "metrics:\n  enabled: sometimes\n", "metrics.enabled", "true or false"},
		{"section_from_scalar", "server: 5\n", "server", "mapping"},
		{"list_item_not_mapping", "access_control:\n  rules: [deny]\n", "access_control.rules[0]", "mapping"},
		{"string_list_nested", "access_control:\n  rules:\n    - domain: [[a.example.com]]\n      policy: deny\n", "access_control.rules[0].domain[0]", "must be a string"},
		{"redis_port_text", "session:\n  redis:\n    host: r\n    port: sixtythree\n", "session.redis.port", "must be an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, nil, baseYAML(t), tt.yaml)
			wantProblem(t, err, tt.key, tt.msg)
			// The failed key keeps its default, so Validate adds nothing
			// about it.
			n := 0
			for _, p := range config.Problems(err) {
				if p.Key == tt.key {
					n++
				}
			}
			if n != 1 {
				t.Errorf("got %d problems at %s; want 1:\n%v", n, tt.key, err)
			}
		})
	}
}

func TestLoadStringListAndSubject(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), `
access_control:
  rules:
    - domain: public.example.com
      policy: bypass
    - domain: ['*.example.com', 'example.com']
      resources: '^/api/'
      methods: [get, POST]
      networks: 10.0.0.0/8
      subject: ['group:admins', ['user:bob', 'group:dev']]
      policy: one_factor
    - domain_regex: '^(a|b)\.example\.com$'
      subject: 'user:carol'
      paths: ['^/admin(/.*)?$', '^/ops/']
      policy: one_factor
`)
	r := c.AccessControl.Rules
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"scalar_domain", r[0].Domain, config.StringList{"public.example.com"}},
		{"list_domain", r[1].Domain, config.StringList{"*.example.com", "example.com"}},
		{"scalar_resources", r[1].Resources, config.StringList{"^/api/"}},
		{"methods_upper_cased", r[1].Methods, config.StringList{"GET", "POST"}},
		{"scalar_networks", r[1].Networks, config.StringList{"10.0.0.0/8"}},
		{"mixed_subject", r[1].Subject, [][]string{{"group:admins"}, {"user:bob", "group:dev"}}},
		{"scalar_subject", r[2].Subject, [][]string{{"user:carol"}}},
		{"domain_regex", r[2].DomainRegex, config.StringList{`^(a|b)\.example\.com$`}},
		{"list_paths", r[2].Paths, config.StringList{`^/admin(/.*)?$`, `^/ops/`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v; want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestLoadLaterFileOverrides(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t), `
log:
  level: debug
server:
  trusted_proxies: ['10.1.0.0/16']
session:
  expiration: 2h
`, `
log:
  format: text
session:
  expiration: 3h
`)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"untouched_by_last_file", c.Log.Level, "debug"},
		{"set_by_last_file", c.Log.Format, "text"},
		{"overridden_by_last_file", c.Session.Expiration, 3 * time.Hour},
		{"list_replaced_not_merged", c.Server.TrustedProxies, []string{"10.1.0.0/16"}},
		{"from_first_file", c.Session.Domain, "example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v; want %v", tt.got, tt.want)
			}
		})
	}
}

func TestLoadEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(*config.Config) (got, want any)
	}{
		{"key_with_underscores", map[string]string{"GATE_ACCESS_CONTROL_DEFAULT_POLICY": "one_factor"},
			func(c *config.Config) (any, any) { return c.AccessControl.DefaultPolicy, "one_factor" }},
		{"overrides_file", map[string]string{"GATE_LOG_LEVEL": "warn"},
			func(c *config.Config) (any, any) { return c.Log.Level, "warn" }},
		{"nested_secret", map[string]string{"GATE_SESSION_SECRET": strings.Repeat("z", 40)},
			func(c *config.Config) (any, any) { return c.Session.Secret, strings.Repeat("z", 40) }},
		{"list_comma_separated", map[string]string{"GATE_SERVER_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"},
			func(c *config.Config) (any, any) { return c.Server.TrustedProxies, []string{"10.0.0.0/8", "192.0.2.1"} }},
		{"duration", map[string]string{"GATE_SESSION_EXPIRATION": "1d"},
			func(c *config.Config) (any, any) { return c.Session.Expiration, 24 * time.Hour }},
		{"integer", map[string]string{"GATE_REGULATION_MAX_RETRIES": "5"},
			func(c *config.Config) (any, any) { return c.Regulation.MaxRetries, 5 }},
		{"bool", map[string]string{"GATE_METRICS_ENABLED": "false"},
			func(c *config.Config) (any, any) { return c.Metrics.Enabled, false }},
		{"remember_me_minus_one", map[string]string{"GATE_SESSION_REMEMBER_ME": "-1"},
			func(c *config.Config) (any, any) { return c.Session.RememberMe, config.RememberMeDisabled }},
		{"remember_me_alias", map[string]string{"GATE_SESSION_REMEMBER_ME_DURATION": "1w"},
			func(c *config.Config) (any, any) { return c.Session.RememberMe, 7 * 24 * time.Hour }},
		{"redis_host_creates_section", map[string]string{"GATE_SESSION_REDIS_HOST": "redis.internal"},
			func(c *config.Config) (any, any) {
				if c.Session.Redis == nil {
					return nil, "redis.internal"
				}
				return c.Session.Redis.Host, "redis.internal"
			}},
		{"redis_password", map[string]string{"GATE_SESSION_REDIS_HOST": "r", "GATE_SESSION_REDIS_PASSWORD": "pw"},
			func(c *config.Config) (any, any) { return c.Session.Redis.Password, "pw" }},
		{"sentinel_password", map[string]string{"GATE_SESSION_REDIS_HOST": "r", "GATE_SESSION_REDIS_HIGH_AVAILABILITY_SENTINEL_NAME": "m", "GATE_SESSION_REDIS_HIGH_AVAILABILITY_SENTINEL_PASSWORD": "spw"},
			func(c *config.Config) (any, any) { return c.Session.Redis.HighAvailability.SentinelPassword, "spw" }},
		{"sentinel_nodes", map[string]string{"GATE_SESSION_REDIS_HIGH_AVAILABILITY_SENTINEL_NAME": "m", "GATE_SESSION_REDIS_HIGH_AVAILABILITY_NODES": "s1:5000, [fd00::1]:5001,s3"},
			func(c *config.Config) (any, any) {
				return c.Session.Redis.HighAvailability.Nodes, []config.RedisNode{{Host: "s1", Port: 5000}, {Host: "[fd00::1]", Port: 5001}, {Host: "s3", Port: 26379}}
			}},
		{"cluster_nodes", map[string]string{"GATE_SESSION_REDIS_CLUSTER_NODES": "n1,n2:7000"},
			func(c *config.Config) (any, any) {
				return c.Session.Redis.Cluster.Nodes, []config.RedisNode{{Host: "n1", Port: 6379}, {Host: "n2", Port: 7000}}
			}},
		{"empty_counts_as_unset", map[string]string{"GATE_LOG_FORMAT": ""},
			func(c *config.Config) (any, any) { return c.Log.Format, "json" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, tt.env, baseYAML(t), "log:\n  level: debug\n")
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v; want %v", got, want)
			}
		})
	}
}

func TestLoadEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		key  string
		msg  string
	}{
		{"bad_integer", map[string]string{"GATE_SESSION_REDIS_HOST": "r", "GATE_SESSION_REDIS_PORT": "abc"}, "session.redis.port", "must be an integer"},
		{"bad_duration", map[string]string{"GATE_SESSION_INACTIVITY": "1x"}, "session.inactivity", "invalid duration"},
		{"bad_node_port", map[string]string{"GATE_SESSION_REDIS_CLUSTER_NODES": "n1:x"}, "session.redis.cluster.nodes[0].port", "must be an integer"},
		{"validated", map[string]string{"GATE_LOG_LEVEL": "loud"}, "log.level", `got "loud"`},
		{"alias_and_key", map[string]string{"GATE_SESSION_REMEMBER_ME": "1w", "GATE_SESSION_REMEMBER_ME_DURATION": "2w"}, "session.remember_me_duration", "together with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.env, baseYAML(t))
			wantProblem(t, err, tt.key, tt.msg)
		})
	}
}

func TestLoadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		env     map[string]string
		content string
		check   func(*config.Config) string
		want    string
	}{
		{"session_secret_newline_trimmed", nil, strings.Repeat("s", 40) + "\n",
			func(c *config.Config) string { return c.Session.Secret }, strings.Repeat("s", 40)},
		{"session_secret_crlf_trimmed", nil, strings.Repeat("s", 40) + "\r\n",
			func(c *config.Config) string { return c.Session.Secret }, strings.Repeat("s", 40)},
		{"only_one_newline_trimmed", nil, strings.Repeat("s", 40) + "\n\n",
			func(c *config.Config) string { return c.Session.Secret }, strings.Repeat("s", 40) + "\n"},
		{"redis_password", map[string]string{"GATE_SESSION_REDIS_HOST": "r"}, "pw\n",
			func(c *config.Config) string { return c.Session.Redis.Password }, "pw"},
		{"sentinel_password", map[string]string{"GATE_SESSION_REDIS_HOST": "r", "GATE_SESSION_REDIS_HIGH_AVAILABILITY_SENTINEL_NAME": "m"}, "spw\n",
			func(c *config.Config) string { return c.Session.Redis.HighAvailability.SentinelPassword }, "spw"},
		{"redis_url_creates_section", nil, "redis://:pw@r:6379/0\n",
			func(c *config.Config) string { return c.Session.Redis.URL }, "redis://:pw@r:6379/0"},
	}
	vars := map[string]string{
		"session_secret_newline_trimmed": "GATE_SESSION_SECRET_FILE",
		"session_secret_crlf_trimmed":    "GATE_SESSION_SECRET_FILE",
		"only_one_newline_trimmed":       "GATE_SESSION_SECRET_FILE",
		"redis_password":                 "GATE_SESSION_REDIS_PASSWORD_FILE",
		"sentinel_password":              "GATE_SESSION_REDIS_HIGH_AVAILABILITY_SENTINEL_PASSWORD_FILE",
		"redis_url_creates_section":      "GATE_SESSION_REDIS_URL_FILE",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{vars[tt.name]: writeFile(t, dir, tt.name, tt.content)}
			for k, v := range tt.env {
				e[k] = v
			}
			c := mustLoad(t, e, baseYAML(t))
			if got := tt.check(c); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}

func TestLoadSecretFilePrivateKey(t *testing.T) {
	cert, key := keyPair(t)
	dir := t.TempDir()
	c := mustLoad(t, map[string]string{
		"GATE_SESSION_REDIS_TLS_PRIVATE_KEY_FILE": writeFile(t, dir, "key", key),
	}, baseYAML(t), "session:\n  redis:\n    host: r\n    tls:\n      certificate_chain: |\n        "+strings.ReplaceAll(strings.TrimSpace(cert), "\n", "\n        ")+"\n")
	if got, want := c.Session.Redis.TLS.PrivateKey, strings.TrimSuffix(key, "\n"); got != want {
		t.Errorf("PrivateKey = %q; want %q", got, want)
	}
}

func TestLoadSecretFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name string
		env  map[string]string
		key  string
		msg  string
	}{
		{"unreadable", map[string]string{"GATE_SESSION_SECRET_FILE": missing}, "session.secret", "GATE_SESSION_SECRET_FILE: cannot read " + missing},
		{"directory", map[string]string{"GATE_SESSION_REDIS_PASSWORD_FILE": dir}, "session.redis.password", "GATE_SESSION_REDIS_PASSWORD_FILE: cannot read"},
		{"both_set", map[string]string{"GATE_SESSION_SECRET": strings.Repeat("a", 40), "GATE_SESSION_SECRET_FILE": writeFile(t, dir, "s", strings.Repeat("b", 40))}, "session.secret", "both GATE_SESSION_SECRET and GATE_SESSION_SECRET_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.env, baseYAML(t))
			wantProblem(t, err, tt.key, tt.msg)
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		file string
		msg  string
	}{
		{"missing", filepath.Join(dir, "nope.yml"), "no such file"},
		{"bad_yaml", writeFile(t, dir, "bad.yml", "session: [\n"), "bad.yml"},
		{"not_a_mapping", writeFile(t, dir, "list.yml", "- a\n"), "list.yml"},
		{"scalar_document_redacted", writeFile(t, dir, "scalar.yml", "hunter2-secret-value\n"), "scalar.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load([]string{tt.file}, env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v; want an error containing %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes the file content", err)
			}
			if got := len(config.Problems(err)); got != 1 {
				t.Errorf("got %d problems; want only the file's:\n%v", got, err)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := loadYAML(t, nil, `
portal:
  url: ftp://auth.example.com
log:
  level: loud
session:
  secret: short
  expiraton: 1h
`)
	want := []string{
		"portal.url",
		"log.level",
		"authentication_backend.file.path",
		"session.secret",
		"session.domain",
		"session.expiraton",
	}
	var got []string
	for _, p := range config.Problems(err) {
		got = append(got, p.Key)
	}
	for _, k := range want {
		if !slices.Contains(got, k) {
			t.Errorf("problems at %v; want one at %s", got, k)
		}
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if !strings.Contains(line, ": ") {
			t.Errorf("line %q is not key: message", line)
		}
	}
}

// TestLoadNeverPrintsSecrets feeds recognisable secrets into every secret
// key, in forms that fail validation, and checks no message carries them.
func TestLoadNeverPrintsSecrets(t *testing.T) {
	const mark = "Zq7MARKERsecret"
	dir := t.TempDir()
	docs := []string{baseYAML(t), `
session:
  secret: ` + mark + `
  redis:
    host: r
    password: ` + mark + `
    url: 'redis://user:` + mark + `@h:99999/x/y?db=` + mark + `'
    high_availability:
      sentinel_name: m
      sentinel_password: [` + mark + `]
    tls:
      private_key: ` + mark + `
      certificate_authority: '-----BEGIN CERTIFICATE-----` + mark + `'
`}
	tests := []struct {
		name string
		env  map[string]string
		docs []string
	}{
		{"in_files", nil, docs},
		{"in_env", map[string]string{
			"GATE_SESSION_SECRET":         mark,
			"GATE_SESSION_REDIS_PASSWORD": mark,
			"GATE_SESSION_REDIS_URL":      "rediss+sentinel://u:" + mark + "@[zz]:1/" + mark,
			"GATE_SESSION_REDIS_PORT":     mark,
		}, []string{baseYAML(t)}},
		{"in_secret_files", map[string]string{
			"GATE_SESSION_SECRET_FILE":                writeFile(t, dir, "secret", mark),
			"GATE_SESSION_REDIS_URL_FILE":             writeFile(t, dir, "url", "bogus://"+mark),
			"GATE_SESSION_REDIS_TLS_PRIVATE_KEY_FILE": writeFile(t, dir, "key", "-----BEGIN PRIVATE KEY-----\n"+mark+"\n-----END PRIVATE KEY-----\n"),
		}, []string{baseYAML(t), "session:\n  redis:\n    tls:\n      certificate_chain: " + filepath.Join(dir, "key") + "\n"}},
		{"as_config_file", nil, []string{baseYAML(t), mark + "\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.env, tt.docs...)
			if err == nil {
				t.Fatal("got no error; want problems")
			}
			if strings.Contains(err.Error(), mark) || strings.Contains(err.Error(), "MARKER") {
				t.Errorf("error carries a secret:\n%v", err)
			}
		})
	}
}

// TestLoadRedisLocalCache checks the local cache's defaults, that a part
// given keeps the default of the rest, and its one bound.
func TestLoadRedisLocalCache(t *testing.T) {
	tests := []struct {
		name    string
		section string
		want    config.RedisLocalCache
		err     string
	}{
		{"default_on", "", config.RedisLocalCache{Enabled: true, MaxEntries: 100_000}, ""},
		{"off_keeps_bound", "    local_cache:\n      enabled: false\n", config.RedisLocalCache{MaxEntries: 100_000}, ""},
		{"bound_keeps_on", "    local_cache:\n      max_entries: 10\n", config.RedisLocalCache{Enabled: true, MaxEntries: 10}, ""},
		{"zero_bound", "    local_cache:\n      max_entries: 0\n", config.RedisLocalCache{}, "session.redis.local_cache.max_entries: must be 1 or more, got 0"},
		{"unknown_key", "    local_cache:\n      size: 1\n", config.RedisLocalCache{}, "session.redis.local_cache.size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, nil, baseYAML(t), "session:\n  redis:\n    host: 127.0.0.1\n"+tt.section)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Load = %v; want an error naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Session.Redis.LocalCache; got != tt.want {
				t.Errorf("local_cache = %+v; want %+v", got, tt.want)
			}
		})
	}
}
