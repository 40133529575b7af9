package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
)

// ports are the addresses of one stack, all on 127.0.0.1.
type ports struct {
	proxy, gate, app int
}

// proxyKind starts one of the shipped proxy configurations.
type proxyKind struct {
	// name is what GATE_TEST_REQUIRE calls it.
	name string
	// how tells where to get it.
	how      string
	programs []string
	// start renders the shipped configuration with the stack's ports into
	// dir and runs the proxy from bin.
	start startFunc
}

var proxyKinds = []proxyKind{
	{name: "nginx", how: "Debian: apt-get install nginx", programs: []string{"nginx"}, start: nginxAt("configs")},
	{name: "caddy", how: "Debian: apt-get install caddy", programs: []string{"caddy"}, start: caddyAt("configs")},
	{name: "haproxy", how: "Debian: apt-get install haproxy", programs: []string{"haproxy"}, start: haproxyAt("configs")},
	{name: "traefik", how: "any Traefik v3 binary; Debian has no package", programs: []string{"traefik"}, start: traefikAt("configs")},
}

// nginxMain stands for the nginx.conf a host already has: configs/nginx
// goes inside its http block. Every path it writes is under the -p prefix.
// underscores_in_headers is on, the worst case for Remote_User spoofing
// (nginx drops such names by default).
const nginxMain = `daemon off;
worker_processes 1;
pid nginx.pid;
error_log stderr notice;
events {
    worker_connections 128;
}
http {
    underscores_in_headers on;
    access_log /dev/stderr;
    client_body_temp_path client_body_temp;
    proxy_temp_path       proxy_temp;
    fastcgi_temp_path     fastcgi_temp;
    uwsgi_temp_path       uwsgi_temp;
    scgi_temp_path        scgi_temp;
    include %s;
}
`

// startFunc renders a shipped proxy configuration with a stack's ports
// into dir and runs the proxy from bin.
type startFunc func(t testing.TB, bin, dir string, p ports) *proc

// The start functions for the configurations under root: configs for the
// single-domain ones, configs/two-domains for example.com and example.org.
func nginxAt(root string) startFunc {
	return func(t testing.TB, bin, dir string, p ports) *proc {
		conf := render(t, root+"/nginx/gate.conf",
			"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", p.proxy),
			"server gate:9091;", fmt.Sprintf("server 127.0.0.1:%d;", p.gate),
			"server app:80;", fmt.Sprintf("server 127.0.0.1:%d;", p.app),
		)
		writeFile(t, filepath.Join(dir, "gate.conf"), conf)
		writeFile(t, filepath.Join(dir, "nginx.conf"), fmt.Sprintf(nginxMain, filepath.Join(dir, "gate.conf")))
		return start(t, "nginx", dir, exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr"))
	}
}

// caddySite is an http:// site address in a Caddyfile's site line: Caddy
// listens on the port the address names.
var caddySite = regexp.MustCompile(`(?m)^(http://[a-z.]+(, http://[a-z.]+)*) \{$`)

func caddyAt(root string) startFunc {
	return func(t testing.TB, bin, dir string, p ports) *proc {
		conf := render(t, root+"/caddy/Caddyfile",
			"gate:9091", fmt.Sprintf("127.0.0.1:%d", p.gate),
			"app:80", fmt.Sprintf("127.0.0.1:%d", p.app),
		)
		port := ":" + strconv.Itoa(p.proxy)
		if !caddySite.MatchString(conf) {
			t.Fatalf("%s/caddy/Caddyfile has no http:// site line to give the port", root)
		}
		conf = caddySite.ReplaceAllStringFunc(conf, func(line string) string {
			return strings.ReplaceAll(strings.ReplaceAll(line, ",", port+","), " {", port+" {")
		})
		file := filepath.Join(dir, "Caddyfile")
		writeFile(t, file, conf)
		cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
		// Caddy keeps state under $HOME / XDG folders: keep them in dir.
		cmd.Env = []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}
		return start(t, "caddy", dir, cmd)
	}
}

func haproxyAt(root string) startFunc {
	return func(t testing.TB, bin, dir string, p ports) *proc {
		conf := render(t, root+"/haproxy/haproxy.cfg",
			"bind :80", fmt.Sprintf("bind 127.0.0.1:%d", p.proxy),
			"gate:9091", fmt.Sprintf("127.0.0.1:%d", p.gate),
			"app:80", fmt.Sprintf("127.0.0.1:%d", p.app),
		)
		writeFile(t, filepath.Join(dir, "haproxy.cfg"), conf)
		// Both configurations use the one Lua script.
		writeFile(t, filepath.Join(dir, "forward_auth.lua"), render(t, "configs/haproxy/forward_auth.lua"))
		return start(t, "haproxy", dir, exec.Command(bin, "-db", "-f", filepath.Join(dir, "haproxy.cfg")))
	}
}

func traefikAt(root string) startFunc {
	return func(t testing.TB, bin, dir string, p ports) *proc {
		dynamic := filepath.Join(dir, "dynamic.yml")
		writeFile(t, dynamic, render(t, root+"/traefik/dynamic.yml",
			"http://gate:9091", fmt.Sprintf("http://127.0.0.1:%d", p.gate),
			"http://app:80", fmt.Sprintf("http://127.0.0.1:%d", p.app),
		))
		// Both configurations use the one static file.
		static := filepath.Join(dir, "traefik.yml")
		writeFile(t, static, render(t, "configs/traefik/traefik.yml",
			`address: ":80"`, fmt.Sprintf(`address: "127.0.0.1:%d"`, p.proxy),
			"/etc/traefik/dynamic.yml", dynamic,
		))
		cmd := exec.Command(bin, "--configFile="+static)
		cmd.Env = []string{"HOME=" + dir}
		return start(t, "traefik", dir, cmd)
	}
}

// stack is gate, the echo app and one proxy in front of both.
type stack struct {
	kind  proxyKind
	ports ports
	echo  *echoServer
	gate  *proc
	// users is gate's users file, which gate watches.
	users string
}

// startStack starts gate, the echo app and the proxy, and returns once a
// request through the proxy reaches the app.
func startStack(t testing.TB, kind proxyKind, bin string) *stack {
	t.Helper()
	return startStackWith(t, kind, bin, func(int) string { return "" })
}

// startStackWith is startStack with more authentication backends in gate's
// configuration: backends gets the proxy's port before gate starts (a
// provider's redirect URI names it) and returns YAML for startGate.
func startStackWith(t testing.TB, kind proxyKind, bin string, backends func(proxyPort int) string) *stack {
	t.Helper()
	s := &stack{kind: kind, echo: startEcho(t)}
	s.ports.proxy = testkit.FreePort(t)
	s.ports.app = s.echo.port
	s.gate, s.ports.gate, s.users = startGate(t, s.ports.proxy, backends(s.ports.proxy))
	p := kind.start(t, bin, t.TempDir(), s.ports)
	c := client(t, s.ports.proxy)
	ready := s.appURL("/public/ready")
	p.waitFor(t, 15*time.Second, "route to the app", func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ready, nil)
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// appURL and portalURL are URLs as a browser would use them.
func (s *stack) appURL(pathQuery string) string {
	return fmt.Sprintf("http://app.example.com:%d%s", s.ports.proxy, pathQuery)
}

func (s *stack) portalURL(pathQuery string) string {
	return fmt.Sprintf("http://auth.example.com:%d%s", s.ports.proxy, pathQuery)
}

func (s *stack) portalOrigin() string { return s.portalURL("") }
