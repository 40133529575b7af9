package config_test

import (
	"net/netip"
	"reflect"
	"testing"

	"gate/internal/config"
)

func TestAccessControlParsed(t *testing.T) {
	ac := config.AccessControl{
		DefaultPolicy: "one_factor",
		Rules: []config.Rule{{
			Domain:      config.StringList{"App.Example.com.", "*.Example.com"},
			DomainRegex: config.StringList{`^a\.example\.com$`},
			Resources:   config.StringList{"^/api/"},
			Paths:       config.StringList{"^/admin"},
			Methods:     config.StringList{"get", "Post"},
			Networks:    config.StringList{"10.1.2.3/8", "::ffff:192.0.2.0/120", "2001:db8::1"},
			Subject:     [][]string{{"group:admins"}, {"user:bob", "group:dev"}},
			Policy:      "bypass",
		}},
	}
	p, err := ac.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultPolicy != config.PolicyOneFactor || len(p.Rules) != 1 {
		t.Fatalf("Parsed = %+v", p)
	}
	r := p.Rules[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"hosts", r.Hosts, []string{"app.example.com"}},
		{"suffixes", r.Suffixes, []string{".example.com"}},
		{"domain_regex", r.DomainRegex[0].String(), `^a\.example\.com$`},
		{"resources", r.Resources[0].String(), "^/api/"},
		{"paths", r.Paths[0].String(), "^/admin"},
		{"methods", r.Methods, []string{"GET", "POST"}},
		{"networks", r.Networks, []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128"),
		}},
		{"subject", r.Subject, [][]config.SubjectTerm{{{Group: true, Name: "admins"}}, {{Name: "bob"}, {Group: true, Name: "dev"}}}},
		{"policy", r.Policy, config.PolicyBypass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v; want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestAccessControlParsedErrors(t *testing.T) {
	ac := config.AccessControl{
		DefaultPolicy: "allow",
		Rules: []config.Rule{
			{Domain: config.StringList{"a.example.com", "*"}, Policy: "two_factor"},
			{Domain: config.StringList{"a.example.com"}, Networks: config.StringList{"10.0.0.0/8", "::ffff:10.0.0.0/88"}, Methods: config.StringList{"GE T"}, Paths: config.StringList{"(("}, Subject: [][]string{{}, {"role:x"}}, Policy: "deny"},
		},
	}
	_, err := ac.Parsed()
	for _, w := range [][2]string{
		{"access_control.default_policy", `got "allow"`},
		{"access_control.rules[0].domain[1]", "lone *"},
		{"access_control.rules[0].policy", "two_factor is not supported"},
		{"access_control.rules[1].networks[1]", "/96 or longer"},
		{"access_control.rules[1].methods[0]", "HTTP method"},
		{"access_control.rules[1].paths[0]", "invalid regex"},
		{"access_control.rules[1].subject[0]", "empty subject"},
		{"access_control.rules[1].subject[1][0]", "user:NAME or group:NAME"},
	} {
		wantProblem(t, err, w[0], w[1])
	}
}

// Validate compiles each rule once and keeps the result; a rule changed
// afterwards is parsed again, never matched with what it no longer says.
func TestValidateKeepsParsedRules(t *testing.T) {
	c := validConfig(t)
	c.AccessControl.Rules = []config.Rule{{Domain: config.StringList{"a.example.com"}, Paths: config.StringList{"^/admin"}, Policy: "deny"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	first, err := c.AccessControl.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.AccessControl.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	if first.Rules[0].Paths[0] != again.Rules[0].Paths[0] {
		t.Error("Parsed compiled the regex again; want Validate's")
	}

	c.AccessControl.Rules[0].Paths[0] = "^/ops"
	changed, err := c.AccessControl.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	if got := changed.Rules[0].Paths[0].String(); got != "^/ops" {
		t.Errorf("after a change, paths[0] = %q; want ^/ops", got)
	}

	c.AccessControl.Rules[0].Networks = config.StringList{"nowhere"}
	if _, err := c.AccessControl.Parsed(); err == nil {
		t.Error("Parsed = nil error for a rule made invalid after Validate")
	}
}
