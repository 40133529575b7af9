package redistest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"gate/internal/testkit"
)

// readyTimeout bounds the wait for a server to answer PING.
const readyTimeout = 15 * time.Second

// ServerOptions configures StartServer. The zero value is a plain server
// on TCP without authentication.
type ServerOptions struct {
	// Password is requirepass: the default user's password.
	Password string
	// Users are ACL users given every permission, created with ACL SETUSER
	// once the server is up: name to password.
	Users map[string]string
	// Socket makes the server listen on a unix socket too (Server.Socket).
	Socket bool
	// TLS serves TLS only (tls-port, port 0) with these certificates.
	TLS *Certs
	// ClientCerts requires a client certificate (tls-auth-clients yes);
	// without it, clients need none.
	ClientCerts bool
	// Config holds extra configuration lines.
	Config []string
	// Port fixes the port, for a server that must appear where a client
	// already looks; 0 takes a free one.
	Port int

	// sentinel runs redis-sentinel; cluster allocates a cluster bus port.
	sentinel, cluster bool
}

// Server is one running redis-server or redis-sentinel.
type Server struct {
	// Addr is 127.0.0.1:Port.
	Addr string
	// Port is the TCP port, the TLS port with TLS.
	Port int
	// BusPort is the cluster bus port of a cluster node.
	BusPort int
	// Socket is the unix socket path, with ServerOptions.Socket.
	Socket string

	opts ServerOptions
	bin  string
	dir  string

	mu    sync.Mutex
	proc  *process
	admin *redis.Client
}

// process is one run of the server.
type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// StartServer starts a redis-server with o on a free port and stops it
// when the test ends.
func StartServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	prog := "redis-server"
	if o.sentinel {
		prog = "redis-sentinel"
	}
	s := &Server{opts: o, bin: LookPath(t, prog)[0], dir: tempDir(t)}
	if o.Socket {
		// Well under the ~100 characters a socket path may have.
		s.Socket = filepath.Join(s.dir, "redis.sock")
	}
	// The kernel's free port may be taken before the server binds it;
	// then take another.
	for attempt := 1; ; attempt++ {
		s.Port = o.Port
		if s.Port == 0 {
			s.Port = testkit.FreePort(t)
		}
		if o.cluster {
			s.BusPort = testkit.FreePort(t)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		err := s.launch()
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || o.Port != 0 || attempt == 5 {
			t.Fatalf("start %s: %v", prog, err)
		}
	}
	t.Cleanup(func() {
		s.Stop()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.admin != nil {
			s.admin.Close()
		}
	})
	ctx := context.Background()
	for name, pw := range o.Users {
		err := s.Admin().Do(ctx, "ACL", "SETUSER", name, "on", ">"+pw, "~*", "&*", "+@all").Err()
		if err != nil {
			t.Fatalf("ACL SETUSER %s: %v", name, err)
		}
	}
	return s
}

var errPortTaken = errors.New("port already in use")

// config is the server's configuration file.
func (s *Server) config() string {
	lines := []string{
		"bind 127.0.0.1",
		"protected-mode no",
		"dir " + s.dir,
		"logfile \"\"",
		"loglevel notice",
	}
	if !s.opts.sentinel {
		lines = append(lines, `save ""`, "appendonly no")
	}
	if c := s.opts.TLS; c != nil {
		auth := "no"
		if s.opts.ClientCerts {
			auth = "yes"
		}
		lines = append(lines,
			"port 0",
			"tls-port "+strconv.Itoa(s.Port),
			"tls-cert-file "+c.ServerCertFile,
			"tls-key-file "+c.ServerKeyFile,
			"tls-ca-cert-file "+c.CAFile,
			"tls-auth-clients "+auth,
		)
	} else {
		lines = append(lines, "port "+strconv.Itoa(s.Port))
	}
	if s.Socket != "" {
		lines = append(lines, "unixsocket "+s.Socket, "unixsocketperm 700")
	}
	if s.opts.Password != "" {
		lines = append(lines, "requirepass "+s.opts.Password)
	}
	if s.opts.cluster {
		lines = append(lines,
			"cluster-enabled yes",
			"cluster-config-file "+filepath.Join(s.dir, "nodes.conf"),
			"cluster-port "+strconv.Itoa(s.BusPort),
			"cluster-node-timeout 5000",
		)
	}
	lines = append(lines, s.opts.Config...)
	return strings.Join(lines, "\n") + "\n"
}

// launch writes the configuration, starts the process and waits until it
// answers PING.
func (s *Server) launch() error {
	conf := filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(s.config()), 0o600); err != nil {
		return err
	}
	p := &process{out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(s.bin, conf)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	err := poll(readyTimeout, p.exited, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return s.Admin().Ping(ctx).Err()
	})
	if err == nil {
		return nil
	}
	s.Stop()
	log := p.out.String()
	if strings.Contains(log, "Address already in use") {
		return errPortTaken
	}
	return fmt.Errorf("%w; log:\n%s", err, tail(log, 2000))
}

// Stop kills the server and waits for it to exit. The Server can be
// restarted on the same port with Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// Restart starts a stopped server again, on the same port and with the
// same configuration (and no data: nothing is saved).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.launch(); err != nil {
		t.Fatalf("restart redis on %s: %v", s.Addr, err)
	}
	ctx := context.Background()
	for name, pw := range s.opts.Users {
		if err := s.Admin().Do(ctx, "ACL", "SETUSER", name, "on", ">"+pw, "~*", "&*", "+@all").Err(); err != nil {
			t.Fatalf("ACL SETUSER %s: %v", name, err)
		}
	}
}

// Log returns what the server has written so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.out.String()
}

// Admin returns a client with the default user's rights, for setting the
// server up and inspecting it. It survives Stop and Restart.
func (s *Server) Admin() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		s.admin = redis.NewClient(&redis.Options{
			Addr:                     s.Addr,
			Password:                 s.opts.Password,
			TLSConfig:                s.ClientTLS(),
			DialTimeout:              time.Second,
			ReadTimeout:              5 * time.Second,
			MaxRetries:               -1,
			DialerRetries:            1,
			PoolSize:                 4,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
	}
	return s.admin
}

// ClientTLS returns a client TLS configuration that trusts the test CA and
// presents the client certificate; nil without TLS.
func (s *Server) ClientTLS() *tls.Config {
	c := s.opts.TLS
	if c == nil {
		return nil
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.CA)
	cert, err := tls.X509KeyPair(c.ClientCert, c.ClientKey)
	if err != nil {
		panic(err) // NewCerts made them; they always pair.
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: ServerName}
}

// tempDir is a short directory removed when the test (or, shared, the
// test binary) ends: unix socket paths must stay short, which t.TempDir's
// long names do not.
func tempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "redis")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// poll calls f every 20ms until it returns nil, the timeout passes or
// stop is closed, and returns the last error.
func poll(timeout time.Duration, stop <-chan struct{}, f func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		select {
		case <-stop:
			return fmt.Errorf("exited: %w", err)
		case <-tick.C:
		}
	}
}

// Eventually calls f until it returns nil, failing the test with f's last
// error when timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := poll(timeout, nil, f); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
