package access_test

import (
	"testing"

	"gate/internal/access"
	"gate/internal/config"
)

// adminSpellings are ways to ask for the admin area that some common
// backend serves as /admin or below it.
var adminSpellings = []string{
	"/admin",
	"/admin/",
	"/admin/secret.html",
	"/admin?x=1",
	"/admin/?x=1",
	"/ADMIN/../admin",
	"/public/../admin",
	"/public/..%2fadmin/secret.html",
	"/public/..%2Fadmin/secret.html",
	"/public/%2e%2e%2Fadmin/secret.html",
	"/public/%2E%2E/admin",
	"/public/.%2e/admin",
	"/public/x/..%2f..%2fadmin/secret.html",
	"/public%2F..%2Fadmin",
	"/public/..%5cadmin",
	"/public\\..\\admin",
	"/public/..\\admin",
	"/public/..;/admin",
	"/public/..;x=1/admin/secret.html",
	"/public/%2e%2e;/admin",
	"/public/..%3B/admin",
	"/public;x%2F..%2Fadmin",
	"/admin%2Fsecret.html",
	"/admin%2fusers",
	"/admin%5Cusers",
	"/admin;jsessionid=1",
	"/admin;x/users",
	"/admin%3Bx",
	"//admin",
	"/%2F/admin",
	"/./admin",
	"/../admin",
	"/%61dmin",
	"/%61%64%6D%69%6E/users",
	"/public/./../admin/",
}

// TestDecide_adminSpellings replays the path confusion reports against the
// rule set they were reported with: every spelling is judged as the admin
// area, for an anonymous request, a signed-in user outside admins and an
// admin, whether the admin rules use resources or paths.
func TestDecide_adminSpellings(t *testing.T) {
	for _, tt := range []struct {
		name  string
		admin func(config.Rule) config.Rule
		// administrator is the decision for a non-admin's /administrator:
		// a bare prefix also takes in the sibling.
		administrator access.Result
	}{
		{"resources", func(r config.Rule) config.Rule { r.Resources = config.StringList{`^/admin`}; return r }, access.Forbid},
		{"paths", func(r config.Rule) config.Rule { r.Paths = config.StringList{`^/admin(/.*)?$`}; return r }, access.Allow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ac := config.AccessControl{
				DefaultPolicy: "deny",
				Rules: []config.Rule{
					{Domain: config.StringList{"app.example.com"}, Resources: config.StringList{`^/public/`}, Policy: "bypass"},
					tt.admin(config.Rule{Domain: config.StringList{"app.example.com"}, Subject: [][]string{{"group:admins"}}, Policy: "one_factor"}),
					tt.admin(config.Rule{Domain: config.StringList{"app.example.com"}, Policy: "deny"}),
					{Domain: config.StringList{"*.example.com"}, Policy: "one_factor"},
				},
			}
			var cases []decideCase
			for _, p := range adminSpellings {
				cases = append(cases,
					decideCase{"anonymous " + p, req("app.example.com", p), nil, access.Login},
					decideCase{"non_admin " + p, req("app.example.com", p), eve, access.Forbid},
					decideCase{"admin " + p, req("app.example.com", p), alice, access.Allow},
				)
			}
			cases = append(cases,
				decideCase{"public_anonymous", req("app.example.com", "/public/index.html"), nil, access.Allow},
				decideCase{"public_dot_segment_inside", req("app.example.com", "/public/x/../y.html"), nil, access.Allow},
				decideCase{"public_double_encoded_stays_public", req("app.example.com", "/public/..%252fadmin"), nil, access.Allow},
				decideCase{"administrator", req("app.example.com", "/administrator"), eve, tt.administrator},
			)
			runDecide(t, ac, cases)
		})
	}
}

// TestDecide_literalRouterView: a router that matches the raw path
// (Express, a WSGI app's routes) sends /admin/../public to its admin
// handler, so a path with a dot segment is judged both ways and the
// stricter answer wins.
func TestDecide_literalRouterView(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "one_factor",
		Rules: []config.Rule{
			{Domain: config.StringList{"app.example.com"}, Paths: config.StringList{`^/admin(/|$)`}, Policy: "deny"},
			{Domain: config.StringList{"app.example.com"}, Paths: config.StringList{`^/public/`}, Policy: "bypass"},
		},
	}, []decideCase{
		{"dot_dot_out_of_admin", req("app.example.com", "/admin/../public/x"), alice, access.Forbid},
		{"encoded_dot_dot_out_of_admin", req("app.example.com", "/admin/%2e%2e/public/x"), alice, access.Forbid},
		{"encoded_slash_out_of_admin", req("app.example.com", "/admin/..%2Fpublic/x"), alice, access.Forbid},
		{"param_out_of_admin", req("app.example.com", "/admin/..;/public/x"), alice, access.Forbid},
		{"backslash_out_of_admin", req("app.example.com", "/admin/..\\public/x"), alice, access.Forbid},
		{"into_public_from_elsewhere_logs_in", req("app.example.com", "/x/../public/y"), nil, access.Login},
		{"dot_inside_public", req("app.example.com", "/public/./y"), nil, access.Allow},
		{"dot_dot_inside_public", req("app.example.com", "/public/a/../y"), nil, access.Allow},
		{"clean_public", req("app.example.com", "/public/y"), nil, access.Allow},
	})
}

func TestDecide_paths(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "bypass",
		Rules: []config.Rule{
			{Domain: config.StringList{"paths.example.com"}, Paths: config.StringList{`^/admin$`, `debug=1`}, Policy: "deny"},
			{Domain: config.StringList{"resources.example.com"}, Resources: config.StringList{`^/admin$`, `debug=1`}, Policy: "deny"},
		},
	}, []decideCase{
		{"paths_exact", req("paths.example.com", "/admin"), nil, access.Forbid},
		{"paths_query_cannot_take_it_out", req("paths.example.com", "/admin?x=1"), nil, access.Forbid},
		{"paths_empty_query", req("paths.example.com", "/admin?"), nil, access.Forbid},
		{"paths_query_with_slash", req("paths.example.com", "/admin?/x"), nil, access.Forbid},
		{"paths_never_see_the_query", req("paths.example.com", "/page?debug=1"), nil, access.Allow},
		{"paths_query_naming_admin", req("paths.example.com", "/login?next=/admin"), nil, access.Allow},
		{"paths_encoded_question_mark_is_path", req("paths.example.com", "/admin%3Fx"), nil, access.Allow},
		{"resources_exact", req("resources.example.com", "/admin"), nil, access.Forbid},
		// resources keep Authelia's meaning: path and query.
		{"resources_query_takes_it_out", req("resources.example.com", "/admin?x=1"), nil, access.Allow},
		{"resources_see_the_query", req("resources.example.com", "/page?debug=1"), nil, access.Forbid},
	})
}

// TestDecide_refusedPathForbids: the authz endpoints answer 400 before
// asking, but Decide alone must not guess at such a path either.
func TestDecide_refusedPathForbids(t *testing.T) {
	runDecide(t, config.AccessControl{
		DefaultPolicy: "deny",
		Rules: []config.Rule{
			{Domain: config.StringList{"app.example.com"}, Paths: config.StringList{`^/public/`}, Policy: "bypass"},
		},
	}, []decideCase{
		{"nul", req("app.example.com", "/public/x%00/../../admin"), alice, access.Forbid},
		{"unicode_escape", req("app.example.com", "/public/..%u002fadmin"), alice, access.Forbid},
		{"overlong", req("app.example.com", "/public/..%c0%afadmin"), alice, access.Forbid},
		{"clean", req("app.example.com", "/public/x"), nil, access.Allow},
	})
}
