package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gate/internal/users"
)

// loginUsers is how many users the login burst's gate knows.
const loginUsers = 100

// loginResult is what the clients of a login burst got, and the gate's
// memory.
type loginResult struct {
	byStatus map[int]int
	errors   int
	slowest  time.Duration
	// idleKiB is the gate's resident set before the burst; peakKiB its
	// high-water mark (VmHWM) after it.
	idleKiB, peakKiB int
	// cpu is the CPU time the gate spent during the burst, and elapsed the
	// burst's length, until the last answer.
	cpu, elapsed time.Duration
}

// checked is the number of logins whose password was checked.
func (r loginResult) checked() int { return r.byStatus[200] + r.byStatus[401] }

// loginReport runs the login burst against this tree's gate and, with
// -baseline, against the other binary, and prints one row each.
func loginReport(out io.Writer, o options, gateBin, dir string) error {
	fmt.Fprintln(os.Stderr, "hashing the login burst's password with the default argon2id parameters …")
	hash, err := users.HashPassword(benchPassword, users.AlgorithmArgon2id)
	if err != nil {
		return err
	}
	bins := []string{gateBin}
	if o.baseline != "" {
		bins = append(bins, o.baseline)
	}
	manner := "waiting Retry-After (1 s) after a 503"
	if o.loginsHammer {
		manner = "trying again at once after a 503"
	}
	fmt.Fprintf(out, "\nlogin burst: %d clients logging in over and over for %s, %s; users with the default argon2id hash (64 MiB, t=3, p=4); gate GOMAXPROCS %s\n\n",
		o.logins, o.loginsDuration, manner, gateProcs())
	fmt.Fprintln(out, "| gate | answers by status | connection errors | slowest answer | passwords checked / s | gate CPU / check | idle RSS | peak RSS |")
	fmt.Fprintln(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	var failures []string
	for i, bin := range bins {
		name := "this tree"
		if i > 0 {
			name = "baseline"
		}
		fmt.Fprintf(os.Stderr, "login burst against %s …\n", name)
		r, err := loginBurst(bin, dir, fmt.Sprintf("gate-logins-%d", i), hash, o.logins, o.loginsDuration, !o.loginsHammer)
		if err != nil {
			return fmt.Errorf("login burst, %s: %w", name, err)
		}
		perCheck := "—"
		if r.checked() > 0 {
			perCheck = fmtDur(r.cpu / time.Duration(r.checked()))
		}
		fmt.Fprintf(out, "| %s | %s | %d | %s | %.1f | %s | %.1f MiB | %.1f MiB |\n", name, fmtStatuses(r.byStatus), r.errors,
			fmtDur(r.slowest), float64(r.checked())/r.elapsed.Seconds(), perCheck, float64(r.idleKiB)/1024, float64(r.peakKiB)/1024)
		if i == 0 && r.errors > 0 {
			failures = append(failures, fmt.Sprintf("login burst: %d connections without an answer", r.errors))
		}
	}
	fmt.Fprintln(out, "\nPasswords checked / s counts the answers 200 and 401 over the burst and its tail, until the last answer came.")
	fmt.Fprintln(out, "Peak RSS is the kernel's high-water mark (VmHWM) of the gate process over its whole life.")
	if len(failures) > 0 {
		return fmt.Errorf("%s", strings.Join(failures, "; "))
	}
	return nil
}

// busyBackoff is how long a polite client waits after a 503: the
// Retry-After gate sends with it.
const busyBackoff = time.Second

// loginBurst starts a gate (memory store, regulation off) whose users all
// have hash, lets it settle, and runs n clients, each on a keep-alive
// connection of its own, logging in over and over for d: a right
// password, a wrong one and an unknown user in turn. With polite, a client
// waits busyBackoff after a 503, as Retry-After asks; without, it tries
// again at once, as an attacker would. A client that gets no answer dials
// again.
func loginBurst(bin, dir, name, hash string, n int, d time.Duration, polite bool) (loginResult, error) {
	addr, err := freePort()
	if err != nil {
		return loginResult{}, err
	}
	cfg, err := writeGateConfigHash(dir, name, addr, loginUsers, "", hash, "error", false)
	if err != nil {
		return loginResult{}, err
	}
	p, err := start(name, exec.Command(bin, "serve", "--config", cfg), addr, httpReady(addr, "/readyz"))
	if err != nil {
		return loginResult{}, err
	}
	defer p.stop()
	time.Sleep(time.Second)
	res := loginResult{byStatus: map[int]int{}, idleKiB: p.rssKiB()}

	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	cpu0, start := p.cpu(), time.Now()
	deadline := start.Add(d)
	for i := range n {
		wg.Go(func() {
			var c *conn
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for try := 0; time.Now().Before(deadline); try++ {
				if c == nil {
					if c, err = dial(addr); err != nil {
						mu.Lock()
						res.errors++
						mu.Unlock()
						return
					}
				}
				t0 := time.Now()
				code, err := c.do(loginRequest(i, try))
				took := time.Since(t0)
				mu.Lock()
				res.slowest = max(res.slowest, took)
				if err != nil {
					res.errors++
				} else {
					res.byStatus[code]++
				}
				mu.Unlock()
				if err != nil {
					c.Close()
					c = nil
				}
				if polite && code == 503 {
					time.Sleep(busyBackoff)
				}
			}
		})
	}
	wg.Wait()
	res.cpu, res.elapsed = p.cpu()-cpu0, time.Since(start)
	res.peakKiB = p.statusKiB("VmHWM:")
	return res, nil
}

// loginRequest is client i's try-th login: the right password, a wrong
// one, or an unknown user, in turn.
func loginRequest(i, try int) []byte {
	user, pass := "user"+strconv.Itoa(i%loginUsers), benchPassword
	switch try % 3 {
	case 1:
		pass = "wrong-password"
	case 2:
		user = "nobody" + strconv.Itoa(i)
	}
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass)
	return fmt.Appendf(nil, "POST /api/login HTTP/1.1\r\nHost: auth.example.com\r\nContent-Type: application/json\r\n"+
		"X-Forwarded-For: 203.0.113.%d\r\nContent-Length: %d\r\n\r\n%s", i%250+1, len(body), body)
}

func fmtStatuses(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d × %d", m[c], c))
	}
	return strings.Join(parts, ", ")
}

// gateProcs is the GOMAXPROCS a gate started by the harness gets: the
// environment's, or the number of CPUs.
func gateProcs() string {
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return v
	}
	return strconv.Itoa(runtime.NumCPU())
}

// statusKiB reads a field in kB of the process's /proc status, such as
// VmRSS or VmHWM.
func (p *proc) statusKiB(field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}
