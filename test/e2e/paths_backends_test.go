package e2e_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
)

// The protected apps of the path matrix. Each finds the resource a request
// target names in its own way, answers 200 with the body "RESOURCE <path>"
// for what it served, and marks every answer its application writes with
// backendHeader, so that the matrix can tell what was served and who
// refused.

// backendHeader names the backend on every answer its application writes;
// receivedHeader carries the request target as the backend received it.
const (
	backendHeader  = "X-Matrix-Backend"
	receivedHeader = "X-Matrix-Received"
)

// resourcePrefix starts the body of every 200 a backend answers.
const resourcePrefix = "RESOURCE "

// backend is a running protected app.
type backend struct {
	// name is what reports call it; col is its three-letter column heading.
	name, col string
	port      int
}

// matrixBackends starts every backend whose program is available: nginx
// serving files, a lenient Python WSGI app and a lenient Go app.
func matrixBackends(t *testing.T) []backend {
	t.Helper()
	var bs []backend
	if bin := testkit.Find(t, "nginx", "Debian: apt-get install nginx", "nginx"); bin != "" {
		bs = append(bs, startFileBackend(t, bin))
	}
	if bin := testkit.Find(t, "python3", "Debian: apt-get install python3", "python3"); bin != "" {
		bs = append(bs, startPythonBackend(t, bin))
	}
	return append(bs, startGoBackend(t))
}

// backendFiles are the files nginx serves; each holds the line naming it.
var backendFiles = []string{
	"/public/index.html",
	"/public/page.html",
	"/public/x/index.html",
	"/admin/index.html",
	"/admin/secret.html",
	"/admin/users/index.html",
}

// fileBackendConf serves the folder as nginx does by default: it decodes
// the path (%2F included), merges slashes and resolves dot-segments before
// it looks for the file. add_header ... always marks error pages too. Its
// logs stay quiet below crit: the test reports what every request got.
const fileBackendConf = `daemon off;
worker_processes 1;
pid nginx.pid;
error_log stderr crit;
events {
    worker_connections 256;
}
http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path       proxy_temp;
    fastcgi_temp_path     fastcgi_temp;
    uwsgi_temp_path       uwsgi_temp;
    scgi_temp_path        scgi_temp;
    default_type text/plain;
    server {
        listen 127.0.0.1:%d;
        root %s;
        add_header ` + backendHeader + ` nginx always;
        add_header ` + receivedHeader + ` $request_uri always;
    }
}
`

func startFileBackend(t *testing.T, bin string) backend {
	t.Helper()
	b := backend{name: "nginx-files", col: "fil", port: testkit.FreePort(t)}
	root := fileRoot(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	writeFile(t, conf, fmt.Sprintf(fileBackendConf, b.port, root))
	p := start(t, "nginx-files", dir, exec.Command(bin, "-p", dir+"/", "-c", conf, "-e", "stderr"))
	p.waitListen(t, b.port)
	return b
}

// fileRoot writes backendFiles into a folder nginx's workers can read: when
// the test runs as root they run as nobody, who cannot enter t.TempDir().
func fileRoot(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "gate-matrix-www-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range backendFiles {
		file := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(resourcePrefix+f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// startPythonBackend runs testdata/lenient_app.py, which serves the decoded
// PATH_INFO with '\' read as '/', ;parameters dropped and dot-segments
// resolved.
func startPythonBackend(t *testing.T, bin string) backend {
	t.Helper()
	b := backend{name: "python-wsgi", col: "wsg", port: testkit.FreePort(t)}
	app, err := filepath.Abs(filepath.Join("testdata", "lenient_app.py"))
	if err != nil {
		t.Fatal(err)
	}
	// -I: no user site or PYTHON* variables; -B: no bytecode next to the file.
	cmd := exec.Command(bin, "-I", "-B", app, fmt.Sprint(b.port))
	p := start(t, "python-wsgi", t.TempDir(), cmd)
	p.waitListen(t, b.port)
	return b
}

// startGoBackend serves r.URL.Path (decoded, %2F included) after
// path.Clean, from a plain handler: ServeMux would redirect unclean paths
// and hide the lenient behaviour.
func startGoBackend(t *testing.T) backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(serveLenient)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return backend{name: "go-http", col: "go", port: ln.Addr().(*net.TCPAddr).Port}
}

func serveLenient(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(backendHeader, "go")
	w.Header().Set(receivedHeader, r.RequestURI)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	resource := path.Clean("/" + r.URL.Path)
	if !inArea(resource, "/public") && !inArea(resource, "/admin") {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, "%s%s\n", resourcePrefix, resource)
}

// inArea reports whether resource is the folder area or inside it.
func inArea(resource, area string) bool {
	return resource == area || strings.HasPrefix(resource, area+"/")
}
