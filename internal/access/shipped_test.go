package access_test

import (
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"gate/internal/access"
	"gate/internal/config"
)

// shippedConfigs returns every gate configuration under configs/: the YAML
// files with an access_control section.
func shippedConfigs(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..", "configs")
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var top map[string]any
		if err := yaml.Unmarshal(b, &top); err != nil {
			return err
		}
		if _, ok := top["access_control"]; ok {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 3 {
		t.Fatalf("found %d gate configurations under configs/ (%v); want at least gate.yml, gate.redis.yml and compose/gate.yml", len(found), found)
	}
	return found
}

// TestShippedConfigsKeepAdminsOnly loads each shipped configuration as gate
// would and checks that its admin area is for admins, whatever the
// spelling of the path, and that validate-config has nothing to warn about.
func TestShippedConfigsKeepAdminsOnly(t *testing.T) {
	users, err := filepath.Abs(filepath.Join("..", "..", "configs", "users.yml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		// compose/gate.yml takes its secret from a file, and names the
		// users file by its path in the container.
		"GATE_SESSION_SECRET":                   strings.Repeat("s", 40),
		"GATE_AUTHENTICATION_BACKEND_FILE_PATH": users,
		// The provider examples (oidc-*.yml) take their client secret
		// from the environment.
		"GATE_AUTHENTICATION_BACKEND_OIDC_0_CLIENT_SECRET": "example",
	}
	admin := &access.Subject{User: "alice", Groups: []string{"admins", "dev"}}
	user := &access.Subject{User: "mallory", Groups: []string{"dev"}}
	for _, path := range shippedConfigs(t) {
		t.Run(strings.TrimPrefix(filepath.ToSlash(path), "../../"), func(t *testing.T) {
			cfg, err := config.Load([]string{path}, func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			// As serve builds them: every cookie domain of the configuration.
			var domains []string
			for _, d := range cfg.CookieDomains() {
				domains = append(domains, d.Domain)
			}
			rules, err := access.New(cfg.AccessControl, domains...)
			if err != nil {
				t.Fatal(err)
			}
			if ws := rules.Warnings(); len(ws) > 0 {
				t.Errorf("warnings:\n%s", warningLines(ws))
			}
			for _, p := range []string{
				"/admin", "/admin/users", "/admin?x=1", "/admin/", "/admin%2Fusers", "/public/..%2fadmin",
				"/public/..;/admin", "/public\\..\\admin", "//admin", "/ADMIN/../admin/users?x=1",
			} {
				rq := access.Request{Method: "GET", Host: "app.example.com", Path: p, Client: netip.MustParseAddr("203.0.113.9")}
				if got := rules.Decide(rq, user); got != access.Forbid {
					t.Errorf("%s for a user outside admins: %v; want forbid", p, got)
				}
				if got := rules.Decide(rq, nil); got != access.Login {
					t.Errorf("%s anonymous: %v; want login", p, got)
				}
				if got := rules.Decide(rq, admin); got != access.Allow {
					t.Errorf("%s for an admin: %v; want allow", p, got)
				}
			}
			rq := access.Request{Method: "GET", Host: "app.example.com", Path: "/dashboard?x=1", Client: netip.MustParseAddr("203.0.113.9")}
			if got := rules.Decide(rq, user); got != access.Allow {
				t.Errorf("/dashboard for a signed-in user: %v; want allow", got)
			}
		})
	}
}
