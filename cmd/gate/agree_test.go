package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// oidcWith is an overlay with one provider, corp, and the given keys.
func oidcWith(keys string) string {
	return "authentication_backend:\n  oidc:\n    - id: corp\n      name: Corp\n      client_id: gate\n      " + keys + "\n"
}

// agreeCase is one configuration: the base configuration with overlay
// loaded over it.
type agreeCase struct {
	name    string
	overlay string
	// valid is the verdict validate-config must reach.
	valid bool
	// key is a key path validate-config must name when the case is
	// invalid.
	key string
	// env is the environment of both commands.
	env map[string]string
}

// TestValidateAgreesWithServe walks invalid and edge-case configurations
// and holds validate-config's verdict to what serve does with the same
// files: a configuration validate-config accepts is one serve starts with,
// and one it refuses is one serve refuses. serve really starts, on
// 127.0.0.1:0 or a unix socket, and its context ends once it logs that it
// is listening. No case reaches a Redis: every Redis address is a closed
// local port or a missing socket, and gate starts while Redis is down.
func TestValidateAgreesWithServe(t *testing.T) {
	f := newAgreeFiles(t)
	cases := []agreeCase{
		{name: "minimal", valid: true},

		// The three reported: each passed validate-config, and serve
		// refused it.
		{name: "redis_url_unknown_query_parameter", overlay: "session:\n  redis:\n    url: 'redis://127.0.0.1:1/0?tls_insecure=true'\n", key: "session.redis.url"},
		{name: "network_mapped_shorter_than_96", overlay: ruleWith("networks: ['::ffff:10.0.0.0/88']"), key: "access_control.rules[0].networks[0]"},
		{name: "host_prefix_lower_case", overlay: "session:\n  name: __host-gate\n", key: "session.name"},

		// Cookie names and prefixes, in any letter case.
		{name: "host_prefix_with_domain", overlay: "session:\n  name: __Host-gate\n", key: "session.name"},
		{name: "secure_prefix_upper_case_over_http", overlay: "portal:\n  url: 'http://auth.example.com'\nsession:\n  name: __SECURE-gate\n", key: "session.name"},
		{name: "secure_prefix_lower_case_over_https", overlay: "session:\n  name: __secure-gate\n", valid: true},
		{name: "cookie_name_with_space", overlay: "session:\n  name: 'gate session'\n", key: "session.name"},
		{name: "same_site_none_over_http", overlay: "portal:\n  url: 'http://auth.example.com'\nsession:\n  same_site: none\n", key: "session.same_site"},
		{name: "same_site_none_over_https", overlay: "session:\n  same_site: none\n", valid: true},

		// Networks and trusted proxies.
		{name: "network_mapped_104", overlay: ruleWith("networks: ['::ffff:10.0.0.0/104', '::ffff:192.0.2.1']"), valid: true},
		{name: "network_with_zone", overlay: ruleWith("networks: ['fe80::1%eth0']"), key: "access_control.rules[0].networks[0]"},
		{name: "network_with_space", overlay: ruleWith("networks: [' 10.0.0.0/8']"), key: "access_control.rules[0].networks[0]"},
		{name: "trusted_proxy_mapped_shorter_than_96", overlay: "server:\n  trusted_proxies: ['10.0.0.0/8', '::ffff:10.0.0.0/88']\n", key: "server.trusted_proxies[1]"},

		// Domains: the session's and the rules'.
		// session.cookies, Authelia's multi-domain form (SPEC section 10),
		// in place of session.domain and portal.url.
		{name: "cookies_two_domains", overlay: cookiesOverlay("    - domain: example.com\n      authelia_url: 'https://auth.example.com'\n    - domain: example.org\n      portal_url: 'https://login.example.org/gate'\n      name: org_session\n      inactivity: 10m\n"), valid: true},
		{name: "cookies_beside_session_domain", overlay: "session:\n  cookies:\n    - domain: example.org\n      authelia_url: 'https://auth.example.org'\n", key: "session.cookies"},
		{name: "cookies_overlap", overlay: cookiesOverlay("    - domain: example.com\n      authelia_url: 'https://auth.example.com'\n    - domain: app.example.com\n      authelia_url: 'https://auth.app.example.com'\n"), key: "session.cookies[1].domain"},
		{name: "cookies_portal_outside", overlay: cookiesOverlay("    - domain: example.com\n      authelia_url: 'https://auth.example.org'\n"), key: "session.cookies[0].authelia_url"},
		{name: "cookies_host_prefix_name", overlay: cookiesOverlay("    - domain: example.com\n      authelia_url: 'https://auth.example.com'\n      name: __Host-gate\n"), key: "session.cookies[0].name"},
		{name: "cookies_same_site_none_over_http", overlay: cookiesOverlay("    - domain: example.com\n      authelia_url: 'http://auth.example.com'\n      same_site: none\n"), key: "session.cookies[0].same_site"},

		{name: "session_domain_upper_case", overlay: "session:\n  domain: EXAMPLE.com\n", valid: true},
		{name: "session_domain_trailing_dot", overlay: "session:\n  domain: 'example.com.'\n", key: "session.domain"},
		{name: "session_domain_underscore", overlay: "portal:\n  url: 'https://auth.my_site.example.com'\nsession:\n  domain: my_site.example.com\n", key: "session.domain"},
		{name: "session_domain_numeric", overlay: "portal:\n  url: 'https://a.123.456'\nsession:\n  domain: '123.456'\n", key: "session.domain"},
		{name: "session_domain_ipv4", overlay: "portal:\n  url: 'http://10.0.0.1:9091'\nsession:\n  domain: 10.0.0.1\n", valid: true},
		{name: "portal_outside_domain", overlay: "portal:\n  url: 'https://example.com.evil.org'\n", key: "portal.url"},
		{name: "rule_domain_upper_case_trailing_dot", overlay: ruleWith("domain: 'App.Example.COM.'"), valid: true},
		{name: "rule_domain_wildcard", overlay: ruleWith("domain: '*.Example.com'"), valid: true},
		{name: "rule_domain_lone_star", overlay: ruleWith("domain: '*'"), key: "access_control.rules[0].domain[0]"},
		{name: "rule_domain_inner_wildcard", overlay: ruleWith("domain: 'a.*.example.com'"), key: "access_control.rules[0].domain[0]"},
		{name: "rule_domain_placeholder", overlay: ruleWith("domain: '{user}.example.com'"), key: "access_control.rules[0].domain[0]"},

		// Regexes, methods, subjects.
		{name: "rule_regexes", overlay: ruleWith("domain_regex: '^(a|b)\\.example\\.com$'\n      resources: ['^/api/']\n      paths: ['(?i)^/admin(/.*)?$']"), valid: true},
		{name: "rule_bad_path_regex", overlay: ruleWith("paths: ['^/(admin']"), key: "access_control.rules[0].paths[0]"},
		{name: "rule_bad_domain_regex", overlay: ruleWith("domain_regex: '['"), key: "access_control.rules[0].domain_regex[0]"},
		{name: "rule_method_lower_case", overlay: ruleWith("methods: [propfind, get]"), valid: true},
		{name: "rule_method_not_a_token", overlay: ruleWith("methods: ['GE T']"), key: "access_control.rules[0].methods[0]"},
		{name: "rule_subject_without_name", overlay: ruleWith("subject: ['user:']"), key: "access_control.rules[0].subject[0][0]"},

		// Machine clients and rate limits.
		{name: "header_basic_tokens_cache", overlay: "authentication_backend:\n  header:\n    basic: true\n    tokens: true\n    cache: 0\n", valid: true},
		{name: "header_cache_negative", overlay: "authentication_backend:\n  header:\n    cache: -5m\n", key: "authentication_backend.header.cache"},
		{name: "header_unknown_key", overlay: "authentication_backend:\n  header:\n    bearer: true\n", key: "authentication_backend.header.bearer"},
		{name: "rate_limit_by_user", overlay: ruleWith("rate_limit: {requests: 100, period: 1m, by: user}"), valid: true},
		{name: "rate_limit_by_client_default_by", overlay: ruleWith("rate_limit: {requests: 1, period: 1s}"), valid: true},
		{name: "rate_limit_zero_requests", overlay: ruleWith("rate_limit: {requests: 0, period: 1m}"), key: "access_control.rules[0].rate_limit.requests"},
		{name: "rate_limit_negative_period", overlay: ruleWith("rate_limit: {requests: 10, period: -1m}"), key: "access_control.rules[0].rate_limit.period"},
		{name: "rate_limit_unknown_by", overlay: ruleWith("rate_limit: {requests: 10, period: 1m, by: ip}"), key: "access_control.rules[0].rate_limit.by"},
		{name: "rate_limit_unknown_key", overlay: ruleWith("rate_limit: {requests: 10, period: 1m, burst: 5}"), key: "access_control.rules[0].rate_limit.burst"},

		// Durations.
		{name: "duration_days_and_hours", overlay: "session:\n  expiration: 1d12h\n  inactivity: 1h\n", valid: true},
		{name: "duration_minus_one", overlay: "session:\n  inactivity: -1\n", key: "session.inactivity"},
		{name: "duration_zero", overlay: "regulation:\n  find_time: 0\n", key: "regulation.find_time"},
		{name: "duration_negative_units", overlay: "session:\n  expiration: -5m\n", key: "session.expiration"},
		{name: "remember_me_minus_one", overlay: "session:\n  remember_me: -1\n", valid: true},
		{name: "remember_me_minus_two", overlay: "session:\n  remember_me: -2\n", key: "session.remember_me"},
		{name: "regulation_off", overlay: "regulation:\n  max_retries: 0\n", valid: true},

		// Listen addresses.
		{name: "address_unix_socket", overlay: "server:\n  address: 'unix://" + f.socket + "'\n", valid: true},
		{name: "address_unix_relative", overlay: "server:\n  address: 'unix://gate.sock'\n", key: "server.address"},
		{name: "address_port_out_of_range", overlay: "server:\n  address: ':99999'\n", key: "server.address"},
		{name: "log_level_unknown", overlay: "log:\n  level: verbose\n", key: "log.level"},

		// Redis: hosts, ports, URL forms, topologies, sockets.
		{name: "redis_host_closed_port", overlay: redisWith("host: 127.0.0.1\n    port: 1"), valid: true},
		{name: "redis_port_out_of_range", overlay: redisWith("host: 127.0.0.1\n    port: 70000"), key: "session.redis.port"},
		{name: "redis_host_bare_ipv6", overlay: redisWith("host: '::1'"), key: "session.redis.host"},
		{name: "redis_host_ipv6", overlay: redisWith("host: '[::1]'\n    port: 1"), valid: true},
		{name: "redis_url_user_info_and_db", overlay: redisWith("url: 'redis://gate:p%40ss@127.0.0.1:1/2'"), valid: true},
		{name: "redis_url_tls_defaults", overlay: redisWith("url: 'rediss://127.0.0.1:1'"), valid: true},
		{name: "redis_url_unix_socket", overlay: redisWith("url: 'unix://" + f.missingSocket + "?db=2'"), valid: true},
		{name: "redis_url_unix_bad_escape", overlay: redisWith("url: 'unix:///run/%zz.sock'"), key: "session.redis.url"},
		{name: "redis_url_db_out_of_range", overlay: redisWith("url: 'redis://127.0.0.1:1/99999999999999999999'"), key: "session.redis.url"},
		{name: "redis_url_sentinel_credentials_on_single", overlay: redisWith("url: 'redis://127.0.0.1:1?sentinel_password=x'"), key: "session.redis.url"},
		{name: "redis_url_repeated_parameter", overlay: redisWith("url: 'redis+sentinel://127.0.0.1:1/m?sentinel_username=a&sentinel_username=b'"), key: "session.redis.url"},
		{name: "redis_url_sentinel_implicit", overlay: redisWith("url: 'redis://127.0.0.1:1,127.0.0.1:2/mymaster'"), valid: true},
		{name: "redis_url_cluster_explicit", overlay: redisWith("url: 'redis+cluster://127.0.0.1:1,[::1]:2'"), valid: true},
		{name: "redis_url_and_host", overlay: redisWith("url: 'redis://127.0.0.1:1'\n    host: 127.0.0.1"), key: "session.redis.url"},
		{name: "redis_url_sentinel_with_cluster_section", overlay: redisWith("url: 'redis+sentinel://127.0.0.1:1/m'\n    cluster:\n      nodes: [{host: 127.0.0.1, port: 2}]"), key: "session.redis.cluster"},
		{name: "redis_url_cluster_with_sentinel_section", overlay: redisWith("url: 'redis+cluster://127.0.0.1:1'\n    high_availability:\n      sentinel_name: m"), key: "session.redis.high_availability"},
		{name: "redis_url_db_with_cluster_section", overlay: redisWith("url: 'redis://127.0.0.1:1/3'\n    cluster:\n      nodes: [{host: 127.0.0.1, port: 2}]"), key: "session.redis.url"},
		{name: "redis_url_one_host_sentinel_without_name", overlay: redisWith("url: 'redis://127.0.0.1:1'\n    high_availability:\n      nodes: [{host: 127.0.0.1, port: 2}]"), key: "session.redis.high_availability.sentinel_name"},
		{name: "redis_sentinel_host_is_a_node", overlay: redisWith("host: 127.0.0.1\n    port: 1\n    high_availability:\n      sentinel_name: m\n      sentinel_password: sp"), valid: true},
		{name: "redis_socket_with_sentinel", overlay: redisWith("host: '" + f.missingSocket + "'\n    high_availability:\n      sentinel_name: m"), key: "session.redis.host"},
		{name: "redis_socket_as_cluster_node", overlay: redisWith("cluster:\n      nodes: [{host: '" + f.missingSocket + "', port: 1}]"), key: "session.redis.cluster.nodes[0].host"},
		{name: "redis_sentinel_and_cluster", overlay: redisWith("host: 127.0.0.1\n    high_availability:\n      sentinel_name: m\n    cluster:\n      nodes: [{host: 127.0.0.1, port: 2}]"), key: "session.redis.cluster"},
		{name: "redis_cluster_database", overlay: redisWith("database_index: 1\n    cluster:\n      nodes: [{host: 127.0.0.1, port: 1}]"), key: "session.redis.database_index"},

		// Redis TLS.
		{name: "tls_versions", overlay: redisTLSWith("minimum_version: '1.3'"), valid: true},
		{name: "tls_maximum_below_default_minimum", overlay: redisTLSWith("minimum_version: ''\n      maximum_version: TLS1.1"), key: "session.redis.tls.maximum_version"},
		{name: "tls_minimum_above_maximum", overlay: redisTLSWith("minimum_version: TLS1.3\n      maximum_version: TLS1.2"), key: "session.redis.tls.minimum_version"},
		{name: "tls_unknown_version", overlay: redisTLSWith("minimum_version: SSL3"), key: "session.redis.tls.minimum_version"},
		{name: "tls_client_certificate", overlay: redisTLSWith("certificate_authority: '" + f.cert + "'\n      certificate_chain: '" + f.cert + "'\n      private_key: '" + f.key + "'"), valid: true},
		{name: "tls_chain_without_key", overlay: redisTLSWith("certificate_chain: '" + f.cert + "'"), key: "session.redis.tls.private_key"},
		{name: "tls_ca_is_a_key", overlay: redisTLSWith("certificate_authority: '" + f.key + "'"), key: "session.redis.tls.certificate_authority"},

		// The session_store block and REDIS_URL (SPEC section 13), named as
		// the operator wrote them.
		{name: "store_block_redis", overlay: storeWith("type: redis\n  redis:\n    addr: '127.0.0.1:1'\n    password: '${REDIS_PASSWORD}'\n    db: 3\n    ttl: 8h"),
			env: map[string]string{"REDIS_PASSWORD": "pw"}, valid: true},
		{name: "store_block_ipv6", overlay: storeWith("type: redis\n  redis:\n    addr: '[::1]:1'"), valid: true},
		{name: "store_block_memory", overlay: storeWith("type: memory\n  redis:\n    ttl: 7d"), valid: true},
		{name: "store_block_password_unset", overlay: storeWith("type: redis\n  redis:\n    addr: '127.0.0.1:1'\n    password: '${REDIS_PASSWORD}'"), key: "session_store.redis.password"},
		{name: "store_block_addr_without_port", overlay: storeWith("type: redis\n  redis:\n    addr: '127.0.0.1'"), key: "session_store.redis.addr"},
		{name: "store_block_db_16", overlay: storeWith("type: redis\n  redis:\n    addr: '127.0.0.1:1'\n    db: 16"), key: "session_store.redis.db"},
		{name: "store_block_prefix_brace", overlay: storeWith("type: redis\n  redis:\n    addr: '127.0.0.1:1'\n    state_prefix: 's{x}'"), key: "session_store.redis.state_prefix"},
		{name: "store_block_ttl_zero", overlay: storeWith("redis:\n    ttl: 0s"), key: "session_store.redis.ttl"},
		{name: "store_block_and_session_redis", overlay: storeWith("type: redis\n  redis:\n    addr: '127.0.0.1:1'") + redisWith("host: 127.0.0.1\n    port: 1"), key: "session_store"},
		{name: "store_block_ttl_and_expiration", overlay: storeWith("redis:\n    ttl: 2h") + "session:\n  expiration: 2h\n", key: "session_store.redis.ttl"},
		{name: "redis_url_env", env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1/2"}, valid: true},
		{name: "redis_url_env_sentinel", env: map[string]string{"REDIS_URL": "redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster"}, valid: true},
		{name: "redis_url_env_bad", env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0?tls_insecure=true"}, key: "REDIS_URL"},

		// OpenID Connect providers (SPEC section 11): serve starts while
		// a provider is unreachable, discovery retries in the background.
		{name: "oidc_provider", overlay: oidcWith("issuer: 'http://127.0.0.1:1'\n      client_secret: s"), valid: true},
		{name: "oidc_provider_full", overlay: oidcWith("issuer: 'https://sso.example.net/realms/corp'\n      client_secret: s\n      scopes: [openid, email, groups]\n      claims: {user: email, groups: roles}\n      allow: {email_domains: [example.com], groups: [staff], users: [alice]}\n      link: email"), valid: true},
		{name: "oidc_without_users_file", overlay: "authentication_backend:\n  file:\n    path: ''\n  oidc:\n    - id: corp\n      name: Corp\n      issuer: 'http://127.0.0.1:1'\n      client_id: gate\n      client_secret: s\n", valid: true},
		{name: "oidc_secret_from_env", overlay: oidcWith("issuer: 'http://127.0.0.1:1'"), env: map[string]string{"GATE_AUTHENTICATION_BACKEND_OIDC_0_CLIENT_SECRET": "s"}, valid: true},
		{name: "oidc_without_secret", overlay: oidcWith("issuer: 'http://127.0.0.1:1'"), key: "authentication_backend.oidc[0].client_secret"},
		{name: "oidc_issuer_plain_http", overlay: oidcWith("issuer: 'http://sso.example.net'\n      client_secret: s"), key: "authentication_backend.oidc[0].issuer"},
		{name: "oidc_id_upper_case", overlay: strings.Replace(oidcWith("issuer: 'http://127.0.0.1:1'\n      client_secret: s"), "id: corp", "id: Corp", 1), key: "authentication_backend.oidc[0].id"},
		{name: "oidc_scopes_without_openid", overlay: oidcWith("issuer: 'http://127.0.0.1:1'\n      client_secret: s\n      scopes: [email]"), key: "authentication_backend.oidc[0].scopes"},
		{name: "oidc_link_unknown", overlay: oidcWith("issuer: 'http://127.0.0.1:1'\n      client_secret: s\n      link: name"), key: "authentication_backend.oidc[0].link"},
		{name: "oidc_link_without_users_file", overlay: "authentication_backend:\n  file:\n    path: ''\n  oidc:\n    - id: corp\n      name: Corp\n      issuer: 'http://127.0.0.1:1'\n      client_id: gate\n      client_secret: s\n      link: user\n", key: "authentication_backend.oidc[0].link"},
		{name: "oidc_unknown_key", overlay: oidcWith("issuer: 'http://127.0.0.1:1'\n      client_secret: s\n      redirect_uri: x"), key: "authentication_backend.oidc[0].redirect_uri"},
		{name: "no_users_file_no_provider", overlay: "authentication_backend:\n  file:\n    path: ''\n", key: "authentication_backend.file.path"},

		// The users file, which serve reads at start.
		{name: "users_file_broken", overlay: "authentication_backend:\n  file:\n    path: '" + f.brokenUsers + "'\n", key: "authentication_backend.file.path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// go-redis keeps its logger in a package variable, which each
			// serve with a Redis store sets: those cases run one at a time.
			if !strings.Contains(tc.overlay, "redis") && tc.env == nil {
				t.Parallel()
			}
			files := []string{f.base, f.write(t, tc.overlay)}
			v := validate(t, files, tc.env)
			started, log := serveStarts(t, files, tc.env)
			if got := v.code == 0; got != started {
				t.Errorf("validate-config says valid = %v, but serve started = %v\nvalidate-config: %s\nserve: %s", got, started, v.stderr, log)
			}
			if got := v.code == 0; got != tc.valid {
				t.Errorf("validate-config says valid = %v; want %v (stderr %q)", got, tc.valid, v.stderr)
			}
			if tc.valid {
				return
			}
			wantKeyPaths(t, v.stderr, tc.key)
		})
	}
}

// validate runs validate-config on files in env.
func validate(t *testing.T, files []string, env map[string]string) result {
	t.Helper()
	var args []string
	for _, f := range files {
		args = append(args, "-c", f)
	}
	return runGate(t, context.Background(), env, "", append([]string{"validate-config"}, args...)...)
}

// wantKeyPaths checks that every line validate-config printed names a key
// path, and that one names key.
func wantKeyPaths(t *testing.T, stderr, key string) {
	t.Helper()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		msg, ok := strings.CutPrefix(line, "gate: ")
		if !ok || !namesKey(msg) {
			t.Errorf("line %q does not name a key path", line)
		}
		found = found || strings.HasPrefix(msg, key+": ")
	}
	if !found {
		t.Errorf("validate-config does not name %s:\n%s", key, stderr)
	}
}

// serveStarts runs serve on files in env until it logs that it is
// listening, then ends it. It reports whether serve got that far, and its
// log.
func serveStarts(t *testing.T, files []string, env map[string]string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &listenWatch{cancel: cancel}
	args := []string{"serve"}
	for _, f := range files {
		args = append(args, "-c", f)
	}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, log)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve neither started nor failed within 30s:\n%s", log)
	}
	return log.listening(), log.String()
}

// listenWatch collects serve's log and ends serve's context once it says
// it is listening.
type listenWatch struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	b      strings.Builder
	seen   bool
}

func (w *listenWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if !w.seen && strings.Contains(w.b.String(), "gate listening") {
		w.seen = true
		w.cancel()
	}
	return len(p), nil
}

func (w *listenWatch) listening() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

func (w *listenWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// ruleWith is an access_control section of one rule, for
// app.example.com unless fields name the domain, with fields added.
func ruleWith(fields string) string {
	domain := "\n      domain: app.example.com"
	if strings.Contains(fields, "domain") {
		domain = ""
	}
	return "access_control:\n  rules:\n    - policy: one_factor" + domain + "\n      " + fields + "\n"
}

// redisWith is a session.redis section with fields, a short timeout and
// nothing to reach.
func redisWith(fields string) string {
	return "session:\n  redis:\n    timeout: 1s\n    " + fields + "\n"
}

// storeWith is a session_store block with fields.
func storeWith(fields string) string {
	return "session_store:\n  " + fields + "\n"
}

// redisTLSWith is a Redis section on a closed port with a tls section of
// fields.
func redisTLSWith(fields string) string {
	return redisWith("host: 127.0.0.1\n    port: 1\n    tls:\n      " + fields)
}

// agreeFiles are the files the cases share.
type agreeFiles struct {
	dir string
	// base is a valid configuration; every case loads its overlay over it.
	base string
	// brokenUsers is a users file serve refuses.
	brokenUsers string
	// cert and key are a self-signed certificate and its key, PEM files.
	cert, key string
	// socket is where gate may listen; missingSocket is where no Redis is.
	socket, missingSocket string
}

func newAgreeFiles(t *testing.T) *agreeFiles {
	t.Helper()
	// A short directory: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "agree")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &agreeFiles{dir: dir, socket: filepath.Join(dir, "g.sock"), missingSocket: filepath.Join(dir, "r.sock")}
	usersFile := f.writeFile(t, "users.yml", "users:\n  alice:\n    password: '"+cheapArgon2id(t, "pw")+"'\n")
	f.brokenUsers = f.writeFile(t, "broken.yml", "users:\n  alice: [not, a, user]\n")
	certPEM, keyPEM := selfSigned(t)
	f.cert, f.key = f.writeFile(t, "cert.pem", certPEM), f.writeFile(t, "key.pem", keyPEM)
	f.base = f.writeFile(t, "base.yml", fmt.Sprintf(`server:
  address: 'tcp://127.0.0.1:0'
portal:
  url: 'https://auth.example.com'
authentication_backend:
  file:
    path: '%s'
    watch: false
session:
  secret: '%s'
  domain: example.com
`, usersFile, secret))
	return f
}

func (f *agreeFiles) writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// write writes a case's overlay to a file of its own.
func (f *agreeFiles) write(t *testing.T, overlay string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "overlay.yml")
	if err := os.WriteFile(p, []byte(overlay), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cheapArgon2id hashes pw with the smallest argon2id parameters the users
// file takes: the cases only load the file.
func cheapArgon2id(t *testing.T, pw string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	const memory, iterations, threads = 8, 1, 1
	key := argon2.IDKey([]byte(pw), salt, iterations, memory, threads, 32)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, iterations, threads, b64(salt), b64(key))
}

// selfSigned returns a fresh self-signed certificate and its key, PEM
// encoded.
func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gate test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	return certPEM, keyPEM
}

// cookiesOverlay gives the cookie domains as session.cookies items,
// emptying the single-domain keys the base configuration sets.
func cookiesOverlay(items string) string {
	return "portal:\n  url: ''\nsession:\n  domain: ''\n  cookies:\n" + items
}

// TestServeSaysStoreFromRedisURL: a store that came from the environment is
// said at start, since the configuration files do not show it.
func TestServeSaysStoreFromRedisURL(t *testing.T) {
	f := newAgreeFiles(t)
	files := []string{f.base}
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"from_redis_url", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}, true},
		{"no_store", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started, log := serveStarts(t, files, tt.env)
			if !started {
				t.Fatalf("serve did not start:\n%s", log)
			}
			if got := strings.Contains(log, "taken from REDIS_URL"); got != tt.want {
				t.Errorf("log says the store came from REDIS_URL = %v; want %v:\n%s", got, tt.want, log)
			}
		})
	}
}

// TestExampleOIDCConfigs: the shipped provider examples are valid once
// their client secret is given, and serve starts with them (discovery of
// their made-up issuers fails in the background).
func TestExampleOIDCConfigs(t *testing.T) {
	env := map[string]string{"GATE_AUTHENTICATION_BACKEND_OIDC_0_CLIENT_SECRET": "example"}
	for _, name := range []string{"oidc-keycloak.yml", "oidc-google.yml"} {
		t.Run(name, func(t *testing.T) {
			// The examples name configs/users.yml relative to the
			// repository root, where the test runs gate from.
			t.Chdir("../..")
			file := filepath.Join("configs", name)
			if v := validate(t, []string{file}, env); v.code != 0 {
				t.Fatalf("validate-config %s: %s", name, v.stderr)
			}
			anyPort := filepath.Join(t.TempDir(), "port.yml")
			if err := os.WriteFile(anyPort, []byte("server:\n  address: 'tcp://127.0.0.1:0'\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if started, log := serveStarts(t, []string{file, anyPort}, env); !started {
				t.Errorf("serve %s did not start:\n%s", name, log)
			}
			if v := validate(t, []string{file}, nil); v.code == 0 || !strings.Contains(v.stderr, "authentication_backend.oidc[0].client_secret") {
				t.Errorf("validate-config %s without the secret: exit %d, %q; want the client_secret named", name, v.code, v.stderr)
			}
		})
	}
}
