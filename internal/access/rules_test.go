package access_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"gate/internal/access"
	"gate/internal/config"
)

const sessionDomain = "example.com"

// req builds a request to host and path from a public address.
func req(host, path string) access.Request {
	return access.Request{Method: "GET", Host: host, Path: path, Client: netip.MustParseAddr("203.0.113.9")}
}

var (
	alice = &access.Subject{User: "alice", Groups: []string{"admins"}}
	bob   = &access.Subject{User: "bob", Groups: []string{"dev"}}
	bobNo = &access.Subject{User: "bob"}
	carol = &access.Subject{User: "carol", Groups: []string{"dev"}}
	eve   = &access.Subject{User: "eve"}
)

type decideCase struct {
	name string
	req  access.Request
	subj *access.Subject
	want access.Result
}

func runDecide(t *testing.T, ac config.AccessControl, tests []decideCase) {
	t.Helper()
	r, err := access.New(ac, sessionDomain)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Decide(tt.req, tt.subj); got != tt.want {
				t.Errorf("Decide(%+v, %v) = %v; want %v", tt.req, tt.subj, got, tt.want)
			}
		})
	}
}

func TestDecide_domains(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "deny",
		Rules: []config.Rule{
			{Domain: config.StringList{"app.example.com", "Other.Example.com."}, Policy: "bypass"},
			{Domain: config.StringList{"*.wild.example.com"}, Policy: "bypass"},
		},
	}, []decideCase{
		{"exact", req("app.example.com", "/"), nil, access.Allow},
		{"exact_case_port_dot", req("APP.Example.COM.:8443", "/"), nil, access.Allow},
		{"entry_case_and_dot", req("other.example.com", "/"), nil, access.Allow},
		{"wildcard_one_level", req("x.wild.example.com", "/"), nil, access.Allow},
		{"wildcard_two_levels", req("a.b.wild.example.com", "/"), nil, access.Allow},
		{"wildcard_not_apex", req("wild.example.com", "/"), nil, access.Forbid},
		{"wildcard_not_suffix_without_dot", req("badwild.example.com", "/"), nil, access.Forbid},
		{"exact_not_subdomain", req("x.app.example.com", "/"), nil, access.Forbid},
		{"unlisted", req("else.example.com", "/"), alice, access.Forbid},
	})
}

func TestDecide_domainRegex(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "deny",
		Rules: []config.Rule{
			{Domain: config.StringList{"static.example.com"}, DomainRegex: config.StringList{`^(api|www)\.example\.com$`}, Policy: "one_factor"},
		},
	}, []decideCase{
		{"regex_anonymous", req("api.example.com", "/"), nil, access.Login},
		{"regex_authenticated", req("www.example.com", "/"), alice, access.Allow},
		{"regex_on_lowercased_host", req("WWW.example.com:443", "/"), alice, access.Allow},
		{"domain_or_regex", req("static.example.com", "/"), alice, access.Allow},
		{"regex_no_match", req("ftp.example.com", "/"), alice, access.Forbid},
	})
}

func TestDecide_resources(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "deny",
		Rules: []config.Rule{
			{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{`^/admin(/.*)?$`, `[?&]debug=1`}, Policy: "deny"},
			{Domain: config.StringList{"app.example.com"}, Policy: "bypass"},
		},
	}, []decideCase{
		{"admin", req("app.example.com", "/admin"), nil, access.Forbid},
		{"admin_sub", req("app.example.com", "/admin/users"), nil, access.Forbid},
		{"dot_dot", req("app.example.com", "/public/../admin"), nil, access.Forbid},
		{"encoded_dot_dot", req("app.example.com", "/public/%2e%2e/admin"), nil, access.Forbid},
		{"double_slash", req("app.example.com", "//admin"), nil, access.Forbid},
		{"dot", req("app.example.com", "/./admin"), nil, access.Forbid},
		{"encoded_letter", req("app.example.com", "/%61dmin"), nil, access.Forbid},
		{"above_root", req("app.example.com", "/../../admin/"), nil, access.Forbid},
		{"admin_sub_with_query", req("app.example.com", "/admin/x?y=1"), nil, access.Forbid},
		// resources see path and query (SPEC 5, as in Authelia): a pattern
		// anchored with $ after the path does not match once a query is added.
		{"anchored_pattern_misses_query", req("app.example.com", "/admin?x=1"), nil, access.Allow},
		{"query_matched_raw", req("app.example.com", "/page?a=2&debug=1"), nil, access.Forbid},
		{"public", req("app.example.com", "/public/index.html"), nil, access.Allow},
		{"admin_prefix_only", req("app.example.com", "/administrator"), nil, access.Allow},
		{"admin_in_query", req("app.example.com", "/login?next=/admin"), nil, access.Allow},
		// Encoded separators are separators (SPEC 8.20), as backends decode them.
		{"encoded_slash", req("app.example.com", "/public%2F..%2Fadmin"), nil, access.Forbid},
		{"encoded_slash_in_name", req("app.example.com", "/admin%2Fusers"), nil, access.Forbid},
	})
}

func TestDecide_methods(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "deny",
		Rules: []config.Rule{
			{Methods: config.StringList{"post", "DELETE"}, Policy: "deny"},
			{Domain: config.StringList{"*.example.com"}, Policy: "bypass"},
		},
	}, []decideCase{
		{"get_passes", access.Request{Method: "GET", Host: "app.example.com", Path: "/"}, nil, access.Allow},
		{"post_denied", access.Request{Method: "POST", Host: "app.example.com", Path: "/"}, nil, access.Forbid},
		{"delete_denied", access.Request{Method: "DELETE", Host: "app.example.com", Path: "/"}, nil, access.Forbid},
		{"lower_case_denied", access.Request{Method: "delete", Host: "app.example.com", Path: "/"}, nil, access.Forbid},
	})
}

func TestDecide_networks(t *testing.T) {
	at := func(addr string) access.Request {
		r := req("app.example.com", "/")
		if addr != "" {
			r.Client = netip.MustParseAddr(addr)
		} else {
			r.Client = netip.Addr{}
		}
		return r
	}
	runDecide(t, config.AccessControl{
		DefaultPolicy: "one_factor",
		Rules: []config.Rule{
			{Networks: config.StringList{"10.0.0.0/8", "192.168.1.5", "2001:db8::/32"}, Policy: "bypass"},
		},
	}, []decideCase{
		{"in_cidr", at("10.1.2.3"), nil, access.Allow},
		{"mapped_v4", at("::ffff:10.1.2.3"), nil, access.Allow},
		{"single_address", at("192.168.1.5"), nil, access.Allow},
		{"next_address", at("192.168.1.6"), nil, access.Login},
		{"v6", at("2001:db8::1"), nil, access.Allow},
		{"outside", at("11.0.0.1"), nil, access.Login},
		{"unknown_client", at(""), nil, access.Login},
	})
}

func TestDecide_subjects(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "bypass",
		Rules: []config.Rule{
			{Domain: config.StringList{"app.example.com"}, Subject: [][]string{{"group:admins"}, {"user:bob", "group:dev"}}, Policy: "one_factor"},
			{Domain: config.StringList{"app.example.com"}, Policy: "deny"},
			{Domain: config.StringList{"locked.example.com"}, Subject: [][]string{{"user:eve"}}, Policy: "deny"},
			{Domain: config.StringList{"locked.example.com"}, Policy: "one_factor"},
			{Domain: config.StringList{"open.example.com"}, Subject: [][]string{{"group:dev"}}, Policy: "bypass"},
		},
	}, []decideCase{
		{"anonymous_logs_in", req("app.example.com", "/"), nil, access.Login},
		{"group_admits", req("app.example.com", "/"), alice, access.Allow},
		{"and_admits", req("app.example.com", "/"), bob, access.Allow},
		{"and_partial_skips", req("app.example.com", "/"), bobNo, access.Forbid},
		{"group_without_user_skips", req("app.example.com", "/"), carol, access.Forbid},
		{"subject_deny", req("locked.example.com", "/"), eve, access.Forbid},
		{"subject_deny_others_skip", req("locked.example.com", "/"), alice, access.Allow},
		{"subject_deny_anonymous_logs_in", req("locked.example.com", "/"), nil, access.Login},
		{"subject_bypass_anonymous_logs_in", req("open.example.com", "/"), nil, access.Login},
		{"subject_bypass_member", req("open.example.com", "/"), carol, access.Allow},
		{"subject_bypass_other_falls_to_default", req("open.example.com", "/"), alice, access.Allow},
	})
}

func TestDecide_defaultPolicy(t *testing.T) {
	for _, tt := range []struct {
		policy          string
		anonymous, user access.Result
	}{
		{"bypass", access.Allow, access.Allow},
		{"one_factor", access.Login, access.Allow},
		{"deny", access.Forbid, access.Forbid},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			runDecide(t, config.AccessControl{DefaultPolicy: tt.policy}, []decideCase{
				{"anonymous", req("app.example.com", "/"), nil, tt.anonymous},
				{"user", req("app.example.com", "/"), alice, tt.user},
			})
		})
	}
}

func TestDecide_outsideSessionDomain(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "one_factor",
		Rules: []config.Rule{
			{Domain: config.StringList{"open.other.org"}, Policy: "bypass"},
			{Domain: config.StringList{"team.other.org"}, Subject: [][]string{{"group:admins"}}, Policy: "one_factor"},
		},
	}, []decideCase{
		{"apex_inside", req("example.com", "/"), nil, access.Login},
		{"sub_inside", req("a.b.example.com", "/"), alice, access.Allow},
		{"outside_anonymous", req("evil.org", "/"), nil, access.Forbid},
		{"outside_user", req("evil.org", "/"), alice, access.Forbid},
		{"suffix_without_dot", req("notexample.com", "/"), alice, access.Forbid},
		{"domain_as_prefix", req("example.com.evil.org", "/"), alice, access.Forbid},
		{"outside_bypass", req("open.other.org", "/"), nil, access.Allow},
		{"outside_subject_rule", req("team.other.org", "/"), nil, access.Forbid},
		{"outside_subject_rule_user", req("team.other.org", "/"), alice, access.Forbid},
	})
}

func TestDecide_firstMatchWins(t *testing.T) {
	deny := config.Rule{Domain: config.StringList{"app.example.com"}, Policy: "deny"}
	bypass := config.Rule{Domain: config.StringList{"*.example.com"}, Policy: "bypass"}
	runDecide(t, config.AccessControl{DefaultPolicy: "one_factor", Rules: []config.Rule{deny, bypass}}, []decideCase{
		{"deny_first", req("app.example.com", "/"), nil, access.Forbid},
		{"other_host", req("www.example.com", "/"), nil, access.Allow},
	})
	runDecide(t, config.AccessControl{DefaultPolicy: "one_factor", Rules: []config.Rule{bypass, deny}}, []decideCase{
		{"bypass_first", req("app.example.com", "/"), nil, access.Allow},
	})
}

func TestDecide_allCriteria(t *testing.T) {
	// The rule of SPEC section 5: every given criterion must match.
	rule := config.Rule{
		Domain:    config.StringList{"*.example.com"},
		Resources: config.StringList{`^/api/`, `^/admin(/.*)?$`},
		Methods:   config.StringList{"GET", "POST"},
		Networks:  config.StringList{"10.0.0.0/8"},
		Subject:   [][]string{{"group:admins"}, {"user:bob", "group:dev"}},
		Policy:    "one_factor",
	}
	ok := access.Request{Method: "POST", Host: "app.example.com", Path: "/api/x", Client: netip.MustParseAddr("10.0.0.1")}
	with := func(f func(*access.Request)) access.Request { r := ok; f(&r); return r }
	runDecide(t, config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{rule}}, []decideCase{
		{"all_match", ok, alice, access.Allow},
		{"all_match_anonymous", ok, nil, access.Login},
		{"wrong_host", with(func(r *access.Request) { r.Host = "example.com" }), alice, access.Forbid},
		{"wrong_resource", with(func(r *access.Request) { r.Path = "/web" }), alice, access.Forbid},
		{"wrong_method", with(func(r *access.Request) { r.Method = "PUT" }), alice, access.Forbid},
		{"wrong_network", with(func(r *access.Request) { r.Client = netip.MustParseAddr("11.0.0.1") }), alice, access.Forbid},
		{"wrong_network_anonymous", with(func(r *access.Request) { r.Client = netip.MustParseAddr("11.0.0.1") }), nil, access.Forbid},
	})
}

func TestNew_errors(t *testing.T) {
	tests := []struct {
		name string
		ac   config.AccessControl
		want []string
	}{
		{"default_policy", config.AccessControl{DefaultPolicy: "allow"}, []string{"access_control.default_policy"}},
		{"empty_default_policy", config.AccessControl{}, []string{"access_control.default_policy"}},
		{"two_factor", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Policy: "two_factor"}}}, []string{"access_control.rules[0].policy: two_factor is not supported"}},
		{"resource_regex", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Resources: config.StringList{"^/ok", "(("}, Policy: "deny"}}}, []string{"access_control.rules[0].resources[1]"}},
		{"path_regex", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Paths: config.StringList{"(("}, Policy: "deny"}}}, []string{"access_control.rules[0].paths[0]: invalid regex"}},
		{"domain_regex", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{DomainRegex: config.StringList{"["}, Policy: "deny"}}}, []string{"access_control.rules[0].domain_regex[0]"}},
		{"network", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Networks: config.StringList{"10.0.0.0/33"}, Policy: "deny"}}}, []string{"access_control.rules[0].networks[0]"}},
		{"subject", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Subject: [][]string{{"user:a"}, {"group:b", "role:c"}}, Policy: "deny"}}}, []string{"access_control.rules[0].subject[1][1]"}},
		{"empty_subject", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Subject: [][]string{{}}, Policy: "deny"}}}, []string{"access_control.rules[0].subject[0]"}},
		{"domain_port", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Domain: config.StringList{"a.example.com:443"}, Policy: "deny"}}}, []string{"access_control.rules[0].domain[0]"}},
		{"domain_inner_wildcard", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Domain: config.StringList{"a.*.example.com"}, Policy: "deny"}}}, []string{"access_control.rules[0].domain[0]"}},
		{"domain_lone_wildcard", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Domain: config.StringList{"*"}, Policy: "deny"}}}, []string{"access_control.rules[0].domain[0]"}},
		{"domain_placeholder", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Domain: config.StringList{"{user}.example.com"}, Policy: "deny"}}}, []string{"placeholders"}},
		{"method", config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Methods: config.StringList{"GE T"}, Policy: "deny"}}}, []string{"access_control.rules[0].methods[0]"}},
		{"every_problem", config.AccessControl{DefaultPolicy: "x", Rules: []config.Rule{{Policy: "y"}, {Networks: config.StringList{"z"}, Policy: "deny"}}},
			[]string{"access_control.default_policy", "access_control.rules[0].policy", "access_control.rules[1].networks[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := access.New(tt.ac, sessionDomain)
			if err == nil {
				t.Fatal("New: err = nil; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestNew_emptySessionDomain(t *testing.T) {
	if _, err := access.New(config.AccessControl{DefaultPolicy: "deny"}, ""); err == nil {
		t.Error("New with an empty session domain: err = nil; want an error")
	}
}

func TestResult_String(t *testing.T) {
	for r, want := range map[access.Result]string{access.Allow: "allow", access.Login: "login", access.Forbid: "forbid"} {
		if got := r.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", r, got, want)
		}
	}
	var zero access.Result
	if zero != access.Forbid {
		t.Error("the zero Result is not Forbid; want fail closed")
	}
}

// benchRules is a realistic rule set: the matching rule is the last one.
func benchRules(tb testing.TB) *access.Rules {
	tb.Helper()
	r, err := access.New(config.AccessControl{
		DefaultPolicy: "deny",
		Rules: []config.Rule{
			{Domain: config.StringList{"public.example.com"}, Policy: "bypass"},
			{Domain: config.StringList{"*.example.com"}, Resources: config.StringList{`^/api/`, `^/admin(/.*)?$`}, Methods: config.StringList{"GET", "POST"}, Networks: config.StringList{"10.0.0.0/8"}, Subject: [][]string{{"group:admins"}, {"user:bob", "group:dev"}}, Policy: "one_factor"},
			{DomainRegex: config.StringList{`^(grafana|prometheus)\.example\.com$`}, Subject: [][]string{{"group:ops"}}, Policy: "one_factor"},
			{Domain: config.StringList{"*.example.com"}, Policy: "one_factor"},
		},
	}, sessionDomain)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestDecide_cleanPathDoesNotAllocate(t *testing.T) {
	r := benchRules(t)
	rq := access.Request{Method: "GET", Host: "app.example.com", Path: "/api/v1/items?page=2", Client: netip.MustParseAddr("10.1.2.3")}
	if n := testing.AllocsPerRun(100, func() { r.Decide(rq, bob) }); n != 0 {
		t.Errorf("Decide allocates %v times; want 0", n)
	}
}

func BenchmarkDecide(b *testing.B) {
	r := benchRules(b)
	for _, bc := range []struct {
		name string
		req  access.Request
	}{
		{"clean_path", access.Request{Method: "GET", Host: "app.example.com", Path: "/api/v1/items?page=2", Client: netip.MustParseAddr("10.1.2.3")}},
		{"dirty_path", access.Request{Method: "GET", Host: "App.Example.com:443", Path: "/static/../api//v1/%69tems?page=2", Client: netip.MustParseAddr("10.1.2.3")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Decide(bc.req, bob)
			}
		})
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		access.NormalizePath("/public/%2e%2e//admin/./users?id=1")
	}
}

// TestDecide_queryAnchors pins what the README says about resources: they
// see the query, so a bare `$` lets `?` past a rule, and an optional query
// before the `$` (`([/?].*)?$`, or the README's `(/.*)?([?].*)?$`) does not.
func TestDecide_queryAnchors(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "bypass",
		Rules: []config.Rule{
			{Domain: config.StringList{"bare.example.com"}, Resources: config.StringList{"^/admin$"}, Policy: "deny"},
			{Domain: config.StringList{"anchored.example.com"}, Resources: config.StringList{"^/admin([/?].*)?$"}, Policy: "deny"},
			{Domain: config.StringList{"suggested.example.com"}, Resources: config.StringList{"^/admin(/.*)?([?].*)?$"}, Policy: "deny"},
		},
	}, []decideCase{
		{"bare", req("bare.example.com", "/admin"), nil, access.Forbid},
		{"bare_query_slips", req("bare.example.com", "/admin?x=1"), nil, access.Allow},
		{"anchored", req("anchored.example.com", "/admin"), nil, access.Forbid},
		{"anchored_query", req("anchored.example.com", "/admin?x=1"), nil, access.Forbid},
		{"anchored_below", req("anchored.example.com", "/admin/users"), nil, access.Forbid},
		{"anchored_sibling", req("anchored.example.com", "/administrator"), nil, access.Allow},
		{"suggested", req("suggested.example.com", "/admin"), nil, access.Forbid},
		{"suggested_query", req("suggested.example.com", "/admin?x=1"), nil, access.Forbid},
		{"suggested_below_with_query", req("suggested.example.com", "/admin/users?x=1"), nil, access.Forbid},
		{"suggested_sibling", req("suggested.example.com", "/administrator?x=1"), nil, access.Allow},
	})
}

// With several cookie domains (session.cookies), a host under any of them
// may log in; a host under none is forbidden unless bypassed.
func TestDecide_severalCookieDomains(t *testing.T) {
	r, err := access.New(config.AccessControl{DefaultPolicy: "one_factor"}, "example.com", "Example.org")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tests := []decideCase{
		{"first_domain", req("app.example.com", "/"), nil, access.Login},
		{"second_domain", req("app.example.org", "/"), nil, access.Login},
		{"second_domain_apex", req("example.org", "/"), nil, access.Login},
		{"neither", req("app.example.net", "/"), nil, access.Forbid},
		{"lookalike", req("example.org.evil.net", "/"), nil, access.Forbid},
		{"second_domain_user", req("app.example.org", "/"), alice, access.Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Decide(tt.req, tt.subj); got != tt.want {
				t.Errorf("Decide(%+v, %v) = %v; want %v", tt.req, tt.subj, got, tt.want)
			}
		})
	}
}

func TestNew_noSessionDomain(t *testing.T) {
	if _, err := access.New(config.AccessControl{DefaultPolicy: "deny"}); err == nil {
		t.Error("New without a session domain: err = nil; want an error")
	}
}

// TestJudge_limit: the verdict names the rate limit of the rule that
// decided, by index, and nothing for rules or a default without one; of a
// path judged twice (dot segments), a limit of either view applies.
func TestJudge_limit(t *testing.T) {
	api := &config.RateLimit{Requests: 5, Period: config.Duration(time.Minute), By: "client"}
	r, err := access.New(config.AccessControl{
		DefaultPolicy: "bypass",
		Rules: []config.Rule{
			{Domain: config.StringList{"free.example.com"}, Policy: "bypass"},
			{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/api/"}, Policy: "one_factor", RateLimit: api},
			{Domain: config.StringList{"app.example.com"}, Policy: "one_factor", RateLimit: &config.RateLimit{Requests: 100, Period: config.Duration(time.Hour)}},
		},
	}, sessionDomain)
	if err != nil {
		t.Fatal(err)
	}
	apiLimit := &access.Limit{Rule: 1, Requests: 5, Period: time.Minute, ByClient: true}
	appLimit := &access.Limit{Rule: 2, Requests: 100, Period: time.Hour}
	tests := []struct {
		name   string
		req    access.Request
		subj   *access.Subject
		result access.Result
		limit  *access.Limit
	}{
		{"rule_without_limit", req("free.example.com", "/"), nil, access.Allow, nil},
		{"default_policy", req("other.example.com", "/"), nil, access.Allow, nil},
		{"api_rule", req("app.example.com", "/api/x"), bob, access.Allow, apiLimit},
		{"app_rule", req("app.example.com", "/x"), bob, access.Allow, appLimit},
		{"anonymous_login", req("app.example.com", "/api/x"), nil, access.Login, apiLimit},
		// Resolved, /api/../x is /x (rule 2); as written it is under /api/
		// (rule 1): both allow, and the resolved view's limit applies.
		{"dot_segments", req("app.example.com", "/api/../x"), bob, access.Allow, appLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Judge(tt.req, tt.subj)
			if got.Result != tt.result {
				t.Errorf("Result = %v; want %v", got.Result, tt.result)
			}
			if (got.Limit == nil) != (tt.limit == nil) || got.Limit != nil && *got.Limit != *tt.limit {
				t.Errorf("Limit = %+v; want %+v", got.Limit, tt.limit)
			}
		})
	}
}

// TestJudge_anyUser holds AnyUser to its promise: whenever an anonymous
// verdict says any user would pass, judging again as each user gives
// AsUser's verdict; and it is never set where a subject rule decides.
func TestJudge_anyUser(t *testing.T) {
	limit := &config.RateLimit{Requests: 5, Period: config.Duration(time.Minute)}
	r, err := access.New(config.AccessControl{
		DefaultPolicy: "one_factor",
		Rules: []config.Rule{
			{Domain: config.StringList{"pub.example.com"}, Policy: "bypass"},
			{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/admin(/.*)?$"}, Subject: [][]string{{"group:admins"}}, Policy: "one_factor", RateLimit: limit},
			{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/admin(/.*)?$"}, Policy: "deny"},
			{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{"^/api(/.*)?$"}, Policy: "one_factor", RateLimit: limit},
			{Domain: config.StringList{"app.example.com"}, Networks: config.StringList{"10.0.0.0/8"}, Policy: "bypass"},
			{Domain: config.StringList{"app.example.com"}, Subject: [][]string{{"user:bob"}}, Policy: "deny"},
			{Domain: config.StringList{"*.example.com"}, Policy: "one_factor"},
		},
	}, sessionDomain)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"pub.example.com", "app.example.com", "x.example.com", "other.test"}
	paths := []string{"/", "/admin", "/admin/x", "/api/x", "/api/../admin", "/admin/../api/x", "/x"}
	clients := []string{"203.0.113.9", "10.1.2.3"}
	users := []*access.Subject{alice, bob, carol, eve}
	for _, h := range hosts {
		for _, p := range paths {
			for _, c := range clients {
				rq := access.Request{Method: "GET", Host: h, Path: p, Client: netip.MustParseAddr(c)}
				anon := r.Judge(rq, nil)
				if anon.AnyUser && anon.Result != access.Login {
					t.Errorf("%s%s from %s: AnyUser on %v", h, p, c, anon.Result)
				}
				if !anon.AnyUser {
					continue
				}
				for _, u := range users {
					got, want := r.Judge(rq, u), anon.AsUser()
					if got.Result != want.Result || got.Limit != want.Limit {
						t.Errorf("%s%s from %s as %s: Judge = %+v; AsUser = %+v", h, p, c, u.User, got, want)
					}
				}
			}
		}
	}
	if v := r.Judge(req("app.example.com", "/admin"), nil); v.AnyUser {
		t.Error("AnyUser on a Login of a subject rule")
	}
	if v := r.Judge(req("app.example.com", "/x"), nil); v.AnyUser {
		t.Error("AnyUser where a later subject rule (user:bob deny) decides for some users")
	}
}
