package e2e_test

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"gate/internal/config"
	"gate/internal/testkit"
)

// composeFile is the part of a compose file these tests read.
type composeFile struct {
	Services map[string]struct {
		Image       string                    `yaml:"image"`
		Build       *struct{ Context string } `yaml:"build"`
		Environment map[string]string         `yaml:"environment"`
		Volumes     []string                  `yaml:"volumes"`
		Ports       []string                  `yaml:"ports"`
		Profiles    []string                  `yaml:"profiles"`
	} `yaml:"services"`
}

func readCompose(t *testing.T, name string) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "configs", name))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:v?[0-9][0-9A-Za-z.-]*$`)

// TestComposeFiles checks the compose stack without a container engine:
// every image is pinned, every file it mounts exists, secrets come from
// files, and each variant swaps Traefik for its proxy with the shipped
// configuration.
func TestComposeFiles(t *testing.T) {
	variants := map[string]string{
		"docker-compose.yml":         "traefik",
		"docker-compose.nginx.yml":   "nginx",
		"docker-compose.caddy.yml":   "caddy",
		"docker-compose.haproxy.yml": "haproxy",
	}
	for file, proxy := range variants {
		t.Run(file, func(t *testing.T) {
			c := readCompose(t, file)
			for name, s := range c.Services {
				if s.Image != "" && s.Build == nil && !pinnedImage.MatchString(s.Image) {
					t.Errorf("service %s: image %q has no pinned version tag", name, s.Image)
				}
				for _, v := range s.Volumes {
					src, _, _ := strings.Cut(v, ":")
					if strings.HasPrefix(src, ".") {
						if _, err := os.Stat(filepath.Join(repoRoot, "configs", src)); err != nil {
							t.Errorf("service %s mounts %s: %v", name, src, err)
						}
					}
				}
				for k, v := range s.Environment {
					if regexp.MustCompile(`(?i)secret|password`).MatchString(k) && !strings.HasSuffix(k, "_FILE") {
						t.Errorf("service %s: %s=%q: secrets go in files (%s_FILE)", name, k, v, k)
					}
				}
			}
			p, ok := c.Services[proxy]
			if !ok {
				t.Fatalf("no %s service", proxy)
			}
			if !slices.Contains(p.Ports, "127.0.0.1:8080:80") {
				t.Errorf("%s publishes %v; want 127.0.0.1:8080:80, the port of portal.url in compose/gate.yml", proxy, p.Ports)
			}
			mountsConfig := false
			for _, v := range p.Volumes {
				mountsConfig = mountsConfig || strings.HasPrefix(v, "./"+proxy+"/")
				mountsConfig = mountsConfig || strings.HasPrefix(v, "./"+proxy+":")
			}
			if !mountsConfig {
				t.Errorf("%s does not mount the shipped configs/%s: %v", proxy, proxy, p.Volumes)
			}
			if proxy != "traefik" && !slices.Contains(c.Services["traefik"].Profiles, "traefik") {
				t.Error("the variant leaves Traefik running: give it a profile of its own")
			}
		})
	}

	c := readCompose(t, "docker-compose.yml")
	g := c.Services["gate"]
	if g.Build == nil || g.Build.Context != ".." {
		t.Fatalf("gate is not built from the repository's Dockerfile: build = %+v", g.Build)
	}
	for k, want := range map[string]string{
		"GATE_CONFIG":                      "/config/gate.yml",
		"GATE_SESSION_SECRET_FILE":         "/secrets/session_secret",
		"GATE_SESSION_REDIS_PASSWORD_FILE": "/secrets/redis_password",
	} {
		if got := g.Environment[k]; got != want {
			t.Errorf("gate: %s = %q; want %q", k, got, want)
		}
	}
	for _, s := range []string{"redis", "app", "secrets"} {
		if _, ok := c.Services[s]; !ok {
			t.Errorf("no %s service", s)
		}
	}
}

// TestComposeGateConfig loads the compose stack's gate configuration as the
// container would, with the secrets from files.
func TestComposeGateConfig(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "session_secret")
	password := filepath.Join(dir, "redis_password")
	writeFile(t, secret, strings.Repeat("s", 64)+"\n")
	writeFile(t, password, strings.Repeat("p", 64)+"\n")
	env := map[string]string{
		"GATE_SESSION_SECRET_FILE":         secret,
		"GATE_SESSION_REDIS_PASSWORD_FILE": password,
		// The users file is mounted at /config/users.yml in the container.
		"GATE_AUTHENTICATION_BACKEND_FILE_PATH": filepath.Join(repoRoot, "configs", "users.yml"),
	}
	cfg, err := config.Load([]string{filepath.Join(repoRoot, "configs", "compose", "gate.yml")}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Session.Redis; r == nil || r.Host != "redis" || r.Password != strings.Repeat("p", 64) {
		t.Errorf("session.redis = %+v; want host redis with the password from its file", r)
	}
	if got, want := cfg.Portal.URL, "http://auth.example.com:8080"; got != want {
		t.Errorf("portal.url = %q; want %q", got, want)
	}
}

// TestComposeSecrets runs the script that makes the stack's secrets: once
// to make them, and again to check that it keeps them.
func TestComposeSecrets(t *testing.T) {
	sh := testkit.Need(t, "sh", "a POSIX shell", "sh")
	dir := filepath.Join(t.TempDir(), "secrets")
	script := filepath.Join(repoRoot, "configs", "compose", "make-secrets.sh")
	run := func() map[string]string {
		t.Helper()
		if out, err := exec.Command(sh, script, dir).CombinedOutput(); err != nil {
			t.Fatalf("make-secrets.sh: %v\n%s", err, out)
		}
		files := map[string]string{}
		for _, name := range []string{"session_secret", "redis_password", "redis.conf"} {
			p := filepath.Join(dir, name)
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o400 {
				t.Errorf("%s: mode %v; want 0400", name, st.Mode().Perm())
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files[name] = string(b)
		}
		return files
	}
	first := run()
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, name := range []string{"session_secret", "redis_password"} {
		if !hex64.MatchString(first[name]) {
			t.Errorf("%s = %q; want 64 hex characters", name, first[name])
		}
	}
	if first["session_secret"] == first["redis_password"] {
		t.Error("session secret and Redis password are equal")
	}
	if !strings.Contains(first["redis.conf"], "requirepass "+first["redis_password"]+"\n") {
		t.Errorf("redis.conf does not require the Redis password:\n%s", first["redis.conf"])
	}
	if second := run(); !maps.Equal(first, second) {
		t.Error("a second run changed the secrets")
	}
}
