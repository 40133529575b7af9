package e2e_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// render returns a file of the repository with each old string replaced by
// its new one. Every old string must occur: a config that no longer has the
// line a test substitutes must fail the test, not pass it unchanged.
func render(t testing.TB, path string, oldnew ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(oldnew); i += 2 {
		if !strings.Contains(s, oldnew[i]) {
			t.Fatalf("%s no longer contains %q: update the test's substitutions", path, oldnew[i])
		}
		s = strings.ReplaceAll(s, oldnew[i], oldnew[i+1])
	}
	return s
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// proc is a program the test started; it is stopped when the test ends.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// start runs cmd with its output in a log file in dir. The log is printed
// when the test fails. At the end of the test the process gets SIGTERM, and
// its process group SIGKILL if it has not ended within five seconds.
func start(t testing.TB, name, dir string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	log, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	return p
}

// stop ends the process: SIGTERM, then SIGKILL to its process group if it
// has not ended within five seconds.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		killGroup(p.cmd.Process.Pid)
		<-p.done
	}
}

func (p *proc) dumpLog(t testing.TB) {
	b, _ := os.ReadFile(p.logPath)
	const max = 16 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	t.Logf("%s output:\n%s", p.name, b)
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls ready until it reports true, failing the test when the
// process ends first or after timeout.
func (p *proc) waitFor(t testing.TB, timeout time.Duration, what string, ready func(context.Context) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if p.exited() {
			p.dumpLog(t)
			t.Fatalf("%s exited before %s: %v", p.name, what, p.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok := ready(ctx)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.dumpLog(t)
			t.Fatalf("%s: no %s after %s", p.name, what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitListen waits until the process accepts connections on port.
func (p *proc) waitListen(t testing.TB, port int) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p.waitFor(t, 10*time.Second, "listen on "+addr, func(ctx context.Context) bool {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// headerValues returns every value of the headers whose name, compared
// case-insensitively and with '_' read as '-', is name.
func headerValues(h map[string][]string, name string) (values []string, names []string) {
	want := strings.ToLower(name)
	for k, vs := range h {
		if strings.ReplaceAll(strings.ToLower(k), "_", "-") == want {
			values = append(values, vs...)
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return values, names
}

func describe(h map[string][]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %q", k, h[k])
	}
	return b.String()
}
