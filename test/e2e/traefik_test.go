package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// traefikForwardAuthOptions are the forwardAuth options Traefik v3
// documents; anything else in the shipped file is a typo Traefik would
// reject.
var traefikForwardAuthOptions = []string{
	"address", "tls", "trustForwardHeader", "authResponseHeaders", "authResponseHeadersRegex",
	"authRequestHeaders", "addAuthCookiesToResponse", "forwardBody", "maxBodySize",
	"headerField", "preserveLocationHeader", "preserveRequestMethod", "maxResponseBodySize",
}

// TestTraefikConfig reads the shipped Traefik files, which TestProxies runs
// only where a traefik binary is installed: documented options only, and
// the ones that keep client identity headers and forwarding headers out.
func TestTraefikConfig(t *testing.T) {
	var static struct {
		EntryPoints map[string]map[string]any `yaml:"entryPoints"`
	}
	readYAML(t, "configs/traefik/traefik.yml", &static)
	for name, ep := range static.EntryPoints {
		if _, ok := ep["forwardedHeaders"]; ok {
			t.Errorf("entry point %s sets forwardedHeaders: client X-Forwarded-* must be dropped", name)
		}
	}

	var dynamic struct {
		HTTP struct {
			Routers map[string]struct {
				Rule        string   `yaml:"rule"`
				Middlewares []string `yaml:"middlewares"`
				Service     string   `yaml:"service"`
			} `yaml:"routers"`
			Middlewares map[string]map[string]map[string]any `yaml:"middlewares"`
		} `yaml:"http"`
	}
	readYAML(t, "configs/traefik/dynamic.yml", &dynamic)
	fa := dynamic.HTTP.Middlewares["gate"]["forwardAuth"]
	if fa == nil {
		t.Fatal("no forwardAuth middleware named gate")
	}
	for k := range fa {
		if !slices.Contains(traefikForwardAuthOptions, k) {
			t.Errorf("forwardAuth option %q is not one Traefik v3 documents", k)
		}
	}
	if addr, _ := fa["address"].(string); !strings.HasSuffix(addr, "/api/authz/forward-auth") {
		t.Errorf("forwardAuth address %q is not gate's forward-auth endpoint", addr)
	}
	for _, k := range []string{"trustForwardHeader", "forwardBody"} {
		if v, ok := fa[k]; ok && v != false {
			t.Errorf("forwardAuth %s = %v; want it off", k, v)
		}
	}
	var copied []string
	for _, h := range fa["authResponseHeaders"].([]any) {
		copied = append(copied, h.(string))
	}
	if want := []string{"Remote-User", "Remote-Groups", "Remote-Email", "Remote-Name"}; !slices.Equal(copied, want) {
		t.Errorf("authResponseHeaders = %v; want %v", copied, want)
	}
	expr, _ := fa["authResponseHeadersRegex"].(string)
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatalf("authResponseHeadersRegex %q: %v", expr, err)
	}
	// Traefik matches the canonical names Go gives client headers.
	for _, name := range []string{"Remote-User", "Remote_user", "Remote-Email", "Remote_email", "Remote-Groups", "Remote-Name"} {
		if !re.MatchString(name) {
			t.Errorf("authResponseHeadersRegex %q does not strip a client's %s", expr, name)
		}
	}
	for _, name := range []string{"Cookie", "X-Remote-User", "Accept"} {
		if re.MatchString(name) {
			t.Errorf("authResponseHeadersRegex %q strips %s", expr, name)
		}
	}
	app := dynamic.HTTP.Routers["app"]
	if want := "Host(`app.example.com`)"; app.Rule != want {
		t.Errorf("router app rule = %q; want %q", app.Rule, want)
	}
	if !slices.Contains(app.Middlewares, "gate") {
		t.Errorf("router app does not use the gate middleware: %v", app.Middlewares)
	}
	portal := dynamic.HTTP.Routers["portal"]
	if portal.Service != "gate" || len(portal.Middlewares) != 0 {
		t.Errorf("router portal = %+v; want service gate without middlewares", portal)
	}
	// No router matches what the internet must not reach: Traefik says 404.
	if want := "Host(`auth.example.com`) && !Path(`/metrics`) && !PathPrefix(`/api/authz/`)"; portal.Rule != want {
		t.Errorf("router portal rule = %q; want %q", portal.Rule, want)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
