package access_test

import (
	"strings"
	"testing"

	"gate/internal/access"
	"gate/internal/config"
)

// Rules of the warning tests, by what they do.
var (
	publicBypass = config.Rule{Domain: config.StringList{"public.example.com"}, Policy: "bypass"}
	adminsOnly   = config.Rule{Domain: config.StringList{"app.example.com"}, Paths: config.StringList{`^/admin(/.*)?$`}, Subject: [][]string{{"group:admins"}}, Policy: "one_factor"}
	adminDeny    = config.Rule{Domain: config.StringList{"app.example.com"}, Paths: config.StringList{`^/admin(/.*)?$`}, Policy: "deny"}
	catchAll     = config.Rule{Domain: config.StringList{"*.example.com"}, Policy: "one_factor"}
)

// with returns r changed by f.
func with(r config.Rule, f func(*config.Rule)) config.Rule {
	f(&r)
	return r
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name          string
		defaultPolicy string
		rules         []config.Rule
		// want holds, per expected warning in order, its key and a part of
		// its message; nil: no warning.
		want [][2]string
	}{
		{
			name:          "correct_rule_set",
			defaultPolicy: "deny",
			rules:         []config.Rule{publicBypass, adminsOnly, adminDeny, catchAll},
		},
		{
			// The mistake the examples shipped with: admins only, then
			// every signed-in user.
			name:          "subject_then_catch_all",
			defaultPolicy: "deny",
			rules: []config.Rule{publicBypass, with(adminsOnly, func(r *config.Rule) {
				r.Paths, r.Resources = nil, config.StringList{`^/admin(/.*)?$`}
			}), catchAll},
			want: [][2]string{
				{"access_control.rules[1]", "let in by access_control.rules[2] (policy one_factor)"},
				{"access_control.rules[1].resources[0]", `matches "/admin" but not "/admin?x=1"`},
			},
		},
		{
			name:          "subject_then_default_one_factor",
			defaultPolicy: "one_factor",
			rules:         []config.Rule{adminsOnly},
			want:          [][2]string{{"access_control.rules[0]", "let in by access_control.default_policy one_factor"}},
		},
		{
			name:          "subject_then_default_deny",
			defaultPolicy: "deny",
			rules:         []config.Rule{adminsOnly},
		},
		{
			name:          "subject_bypass_then_catch_all",
			defaultPolicy: "deny",
			rules:         []config.Rule{with(adminsOnly, func(r *config.Rule) { r.Policy = "bypass" }), catchAll},
			want:          [][2]string{{"access_control.rules[0]", "rules[1]"}},
		},
		{
			// A subject on a deny rule is a block list: the others are
			// meant to go on.
			name:          "subject_deny_is_a_block_list",
			defaultPolicy: "deny",
			rules:         []config.Rule{with(adminsOnly, func(r *config.Rule) { r.Subject, r.Policy = [][]string{{"user:eve"}}, "deny" }), catchAll},
		},
		{
			name:          "deny_then_a_second_subject_rule_in_between",
			defaultPolicy: "deny",
			rules: []config.Rule{
				adminsOnly,
				with(adminsOnly, func(r *config.Rule) { r.Subject = [][]string{{"group:auditors"}} }),
				adminDeny, catchAll,
			},
		},
		{
			name:          "other_hosts_and_paths_in_between",
			defaultPolicy: "deny",
			rules: []config.Rule{
				adminsOnly,
				publicBypass,
				{Domain: config.StringList{"app.example.com"}, Paths: config.StringList{`^/public/`}, Policy: "bypass"},
				{Domain: config.StringList{"*.other.example.com"}, Policy: "one_factor"},
				adminDeny, catchAll,
			},
		},
		{
			name:          "overlapping_bypass_in_between",
			defaultPolicy: "deny",
			rules: []config.Rule{
				adminsOnly,
				{Domain: config.StringList{"app.example.com"}, Paths: config.StringList{`^/admin/help`}, Policy: "bypass"},
				adminDeny, catchAll,
			},
			want: [][2]string{{"access_control.rules[0]", "rules[1] (policy bypass)"}},
		},
		{
			name:          "regex_host_in_between_is_assumed_to_overlap",
			defaultPolicy: "deny",
			rules:         []config.Rule{adminsOnly, {DomainRegex: config.StringList{`^app\.`}, Policy: "one_factor"}, adminDeny},
			want:          [][2]string{{"access_control.rules[0]", "rules[1]"}},
		},
		{
			name:          "wider_deny_covers",
			defaultPolicy: "one_factor",
			rules: []config.Rule{
				adminsOnly,
				{Domain: config.StringList{"*.example.com"}, Paths: config.StringList{`^/admin`}, Policy: "deny"},
			},
		},
		{
			name:          "deny_of_the_whole_host_covers",
			defaultPolicy: "one_factor",
			rules:         []config.Rule{adminsOnly, {Domain: config.StringList{"app.example.com"}, Policy: "deny"}},
		},
		{
			name:          "wildcard_deny_covers_a_deeper_wildcard",
			defaultPolicy: "one_factor",
			rules: []config.Rule{
				with(adminsOnly, func(r *config.Rule) { r.Domain = config.StringList{"*.apps.example.com"} }),
				{Domain: config.StringList{"*.example.com"}, Policy: "deny"},
			},
		},
		{
			name:          "narrower_deny_then_catch_all",
			defaultPolicy: "deny",
			rules: []config.Rule{
				adminsOnly,
				with(adminDeny, func(r *config.Rule) { r.Paths = config.StringList{`^/admin/users`} }),
				catchAll,
			},
			want: [][2]string{{"access_control.rules[0]", "rules[2]"}},
		},
		{
			name:          "deny_on_another_host_then_catch_all",
			defaultPolicy: "deny",
			rules: []config.Rule{
				adminsOnly,
				with(adminDeny, func(r *config.Rule) { r.Domain = config.StringList{"www.example.com"} }),
				catchAll,
			},
			want: [][2]string{{"access_control.rules[0]", "rules[2]"}},
		},
		{
			// resources see the query: /admin?x=1 is not denied by it.
			name:          "resources_deny_does_not_cover_paths",
			defaultPolicy: "deny",
			rules: []config.Rule{
				adminsOnly,
				with(adminDeny, func(r *config.Rule) { r.Paths, r.Resources = nil, config.StringList{`^/admin(/.*)?$`} }),
				catchAll,
			},
			want: [][2]string{
				{"access_control.rules[0]", "rules[2]"},
				{"access_control.rules[1].resources[0]", "([?].*)?$"},
			},
		},
		{
			name:          "deny_for_some_methods_only",
			defaultPolicy: "deny",
			rules:         []config.Rule{adminsOnly, with(adminDeny, func(r *config.Rule) { r.Methods = config.StringList{"POST"} }), catchAll},
			want:          [][2]string{{"access_control.rules[0]", "rules[2]"}},
		},
		{
			name:          "deny_for_the_same_methods",
			defaultPolicy: "one_factor",
			rules: []config.Rule{
				with(adminsOnly, func(r *config.Rule) { r.Methods = config.StringList{"GET"} }),
				with(adminDeny, func(r *config.Rule) { r.Methods = config.StringList{"get", "POST"} }),
			},
		},
		{
			name:          "deny_for_a_wider_network",
			defaultPolicy: "one_factor",
			rules: []config.Rule{
				with(adminsOnly, func(r *config.Rule) { r.Networks = config.StringList{"10.1.0.0/16"} }),
				with(adminDeny, func(r *config.Rule) { r.Networks = config.StringList{"10.0.0.0/8"} }),
			},
		},
		{
			name:          "deny_for_a_narrower_network",
			defaultPolicy: "one_factor",
			rules: []config.Rule{
				with(adminsOnly, func(r *config.Rule) { r.Networks = config.StringList{"10.0.0.0/8"} }),
				with(adminDeny, func(r *config.Rule) { r.Networks = config.StringList{"10.1.0.0/16"} }),
			},
			want: [][2]string{{"access_control.rules[0]", "access_control.default_policy one_factor"}},
		},
		{
			name:          "bare_prefix_deny_covers",
			defaultPolicy: "one_factor",
			rules: []config.Rule{
				with(adminsOnly, func(r *config.Rule) { r.Paths, r.Resources = nil, config.StringList{`^/admin/.*\.html`} }),
				with(adminDeny, func(r *config.Rule) { r.Paths = config.StringList{`^/admin/`} }),
			},
		},
		{
			name:          "resources_anchored_at_the_end",
			defaultPolicy: "deny",
			rules: []config.Rule{{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{
				`^/admin$`, `^/ok([/?].*)?$`, `^/api/`, `[?&]debug=1`, `^/(root|sys)$`, `\.css$`, `^/x/.*$`,
			}, Policy: "deny"}},
			want: [][2]string{
				{"access_control.rules[0].resources[0]", `"/admin?x=1"`},
				{"access_control.rules[0].resources[4]", `"/root?x=1"`},
				{"access_control.rules[0].resources[5]", `".css?x=1"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := access.New(config.AccessControl{DefaultPolicy: tt.defaultPolicy, Rules: tt.rules}, sessionDomain)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Warnings()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d warnings; want %d:\n%s", len(got), len(tt.want), warningLines(got))
			}
			for i, w := range tt.want {
				if got[i].Key != w[0] || !strings.Contains(got[i].Msg, w[1]) {
					t.Errorf("warning %d = %q; want key %s and a message containing %q", i, got[i], w[0], w[1])
				}
				if strings.Contains(got[i].String(), "\n") {
					t.Errorf("warning %d spans lines: %q", i, got[i])
				}
			}
		})
	}
}

func warningLines(ws []access.Warning) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}
