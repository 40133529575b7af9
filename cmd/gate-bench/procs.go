package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"

	"gate/internal/benchprofile"
)

// proc is a server the harness started as a child process.
type proc struct {
	name string
	addr string
	cmd  *exec.Cmd
}

func (p *proc) stop() {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// rssKiB reads the process's resident set from /proc.
func (p *proc) rssKiB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

// cpuTime is the user and system CPU time pid has used, from /proc (in
// clock ticks of 10 ms, USER_HZ being 100 on Linux).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces; fields count from its ")".
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func (p *proc) cpu() time.Duration { return cpuTime(p.cmd.Process.Pid) }

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func start(name string, cmd *exec.Cmd, addr string, ready func() error) (*proc, error) {
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stderr
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, addr: addr, cmd: cmd}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := ready()
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not ready at %s: %w", name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpReady(addr, path string) func() error {
	return func() error {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %d", path, resp.StatusCode)
		}
		return nil
	}
}

// startFloor runs this binary as a bare net/http server: the floor every
// figure is compared with. With identity, it also sets the headers of
// gate's 200, to show what writing them costs net/http alone.
func startFloor(profile string, identity bool) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	name, args := "floor", []string{"floor", addr}
	if identity {
		name, args = "floor-identity", append(args, "identity")
	}
	return start(name, profiled(exec.Command(self, args...), profile, name), addr, httpReady(addr, "/healthz"))
}

// serveFloor is the floor: a 200 with no body, as gate's allowed answer. It
// stops on SIGINT like gate, so that its profiles get written.
func serveFloor(addr string, identity bool) error {
	stopProfiling := benchprofile.FromEnv()
	defer stopProfiling()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if identity {
			// As gate sets them: one backing array for the five values.
			vals := []string{"user1", "staff,dev", "user1@example.com", "Bench User 1", "no-store"}
			h := w.Header()
			h["Remote-User"] = vals[0:1:1]
			h["Remote-Groups"] = vals[1:2:2]
			h["Remote-Email"] = vals[2:3:3]
			h["Remote-Name"] = vals[3:4:4]
			h["Cache-Control"] = vals[4:5:5]
		}
		w.WriteHeader(http.StatusOK)
	})}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// profiled makes cmd write its profiles into dir (when set) under name.
func profiled(cmd *exec.Cmd, dir, name string) *exec.Cmd {
	if dir != "" {
		cmd.Env = append(os.Environ(), benchprofile.EnvDir+"="+dir, benchprofile.EnvName+"="+name)
	}
	return cmd
}

// startProfile starts the CPU profile of a process started with profiled.
func (p *proc) startProfile() {
	if p != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGUSR1)
	}
}

// buildGate compiles cmd/gate as the Dockerfile does; with profiling, it
// adds the benchprofile tag.
func buildGate(dir string, profiling bool) (string, error) {
	bin := filepath.Join(dir, "gate")
	args := []string{"build", "-trimpath", "-o", bin}
	if profiling {
		args = append(args, "-tags", "benchprofile")
	}
	cmd := exec.Command("go", append(args, "./cmd/gate")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gate (run from the repository root): %w", err)
	}
	return bin, nil
}

const benchPassword = "bench-password"

// writeGateConfig writes a configuration and a users file with n users.
// The users share one cheap argon2id hash so that logging in thousands of
// users takes seconds, not hours; the decisions measured never hash.
func writeGateConfig(dir, name, addr string, users int, redis, logLevel string, machine bool) (string, error) {
	return writeGateConfigHash(dir, name, addr, users, redis, cheapHash(), logLevel, machine)
}

// cheapHash is an argon2id hash of benchPassword with the least work
// argon2id allows.
func cheapHash() string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=1024,t=1,p=1$%s$%s", enc.EncodeToString(salt),
		enc.EncodeToString(argon2.IDKey([]byte(benchPassword), salt, 1, 1024, 1, 32)))
}

// writeGateConfigHash is writeGateConfig with every user's password hash
// given.
func writeGateConfigHash(dir, name, addr string, users int, redis, hash, logLevel string, machine bool) (string, error) {
	// The machine-client keys only where a target needs them, so that a
	// baseline binary older than them still starts.
	header, limitedRule := "", ""
	if machine {
		header = "  header:\n    basic: true\n    cache: 5m"
		limitedRule = "    - domain: 'limited.example.com'\n      policy: one_factor\n      rate_limit: {requests: 1000000000, period: 1s, by: user}\n"
	}
	var b strings.Builder
	b.WriteString("users:\n")
	for i := 0; i < users; i++ {
		fmt.Fprintf(&b, "  user%d:\n    displayname: 'Bench User %d'\n    email: user%d@example.com\n    groups: [staff, dev]\n    password: '%s'\n", i, i, i, hash)
	}
	usersFile := filepath.Join(dir, name+"-users.yml")
	if err := os.WriteFile(usersFile, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`server:
  address: 'tcp://%s'
log:
  level: %s
portal:
  url: 'https://auth.example.com'
authentication_backend:
  file:
    path: '%s'
%s
access_control:
  default_policy: deny
  rules:
    - domain: 'public.example.com'
      policy: bypass
%s    - domain: 'app.example.com'
      resources: ['^/admin(/.*)?$']
      subject: ['group:admins']
      policy: one_factor
    - domain: ['*.example.com']
      policy: one_factor
regulation:
  max_retries: 0
session:
  secret: 'bench-secret-bench-secret-bench-secret-0123'
  domain: example.com
  expiration: 1h
  inactivity: 30m
%s`, addr, logLevel, usersFile, header, limitedRule, redis)
	path := filepath.Join(dir, name+".yml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

func startGate(bin, dir, name string, users int, redis, profile string, machine bool) (*proc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg, err := writeGateConfig(dir, name, addr, users, redis, "error", machine)
	if err != nil {
		return nil, err
	}
	return start(name, profiled(exec.Command(bin, "serve", "--config", cfg), profile, name), addr, httpReady(addr, "/readyz"))
}

// startRedis runs a throw-away redis-server on a free port.
func startRedis(dir string) (*proc, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found on PATH (Debian: apt-get install redis-server)")
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	return start("redis", cmd, addr, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_, _ = c.Write([]byte("PING\r\n"))
		buf := make([]byte, 7)
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "+PONG\r\n" {
			return fmt.Errorf("no PONG: %v", err)
		}
		return nil
	})
}

// login signs in users 0..n-1 on the gate at addr and returns their cookies.
func login(ctx context.Context, addr string, n, workers int) ([]string, error) {
	cookies := make([]string, n)
	jobs := make(chan int)
	errc := make(chan error, workers)
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	for w := 0; w < workers; w++ {
		go func() {
			for i := range jobs {
				body := fmt.Sprintf(`{"username":"user%d","password":%q}`, i, benchPassword)
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/login", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					errc <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errc <- fmt.Errorf("login user%d: status %d", i, resp.StatusCode)
					return
				}
				for _, c := range resp.Cookies() {
					if c.Name == "gate_session" {
						cookies[i] = c.Name + "=" + c.Value
					}
				}
				if cookies[i] == "" {
					errc <- fmt.Errorf("login user%d: no cookie", i)
					return
				}
			}
			errc <- nil
		}()
	}
	var firstErr error
	for i := 0; i < n && firstErr == nil; i++ {
		select {
		case jobs <- i:
		case err := <-errc:
			firstErr = err
			workers--
		}
	}
	close(jobs)
	for ; workers > 0; workers-- {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return cookies, firstErr
}
