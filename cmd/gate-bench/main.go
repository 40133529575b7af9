package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "floor" {
		if err := serveFloor(os.Args[2], len(os.Args) == 4 && os.Args[3] == "identity"); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gate-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	duration       time.Duration
	rounds         int
	conns          int
	sessions       int
	targets        map[string]bool
	burst          int
	memorySessions int
	// cacheSessions is how many sessions the cached-session memory
	// report fills the local cache with.
	cacheSessions int
	profile       string
	// baseline is another gate binary run beside this tree's build.
	baseline string
	// logins is the number of clients of the login burst, 0 for none.
	logins         int
	loginsDuration time.Duration
	loginsHammer   bool
	// faults, when it names experiments, runs the fault harness instead
	// of the load rounds.
	faults faultOptions
	// logoutLatency runs the logout-to-refusal measurement instead of the
	// load rounds, over logouts logouts.
	logoutLatency bool
	logouts       int
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("gate-bench", flag.ContinueOnError)
	var o options
	var targets string
	var err error
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "length of one target's turn in a round")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds (targets interleave within each)")
	fs.IntVar(&o.conns, "conns", 64, "keep-alive connections")
	fs.IntVar(&o.sessions, "sessions", 1000, "distinct logged-in users (sessions) the requests cycle through")
	fs.StringVar(&targets, "targets", "floor,identity,memory,basic,limited,redis,redis-nocache", "comma-separated: floor, identity (the floor plus gate's five response headers), memory, basic (Basic credentials, warm credential cache), limited (a rule with a rate_limit never reached), redis (with the local session cache, the default), redis-nocache (local_cache off), or none")
	fs.IntVar(&o.burst, "burst", 1000, "connections opened at once against the Redis store (0 skips)")
	fs.IntVar(&o.cacheSessions, "cache-sessions", 20000, "with the redis target, fill an in-process Redis store's local cache with this many sessions and report bytes per cached session (0 skips)")
	fs.IntVar(&o.memorySessions, "memory-sessions", 0, "also fill an in-process memory store with this many sessions and report bytes per session")
	fs.StringVar(&o.profile, "profile", "", "write CPU, heap, allocation and mutex profiles of every target into this directory")
	fs.IntVar(&o.logins, "logins", 0, "also run a login burst: this many clients logging in over and over, against a gate whose users have the default argon2id hash; reports answers and peak RSS (0 skips)")
	fs.DurationVar(&o.loginsDuration, "logins-duration", 10*time.Second, "length of the login burst")
	fs.BoolVar(&o.loginsHammer, "logins-hammer", false, "login burst clients try again at once after a 503 instead of waiting its Retry-After")
	fs.StringVar(&o.baseline, "baseline", "", "another gate binary (say, built from an earlier commit) to run beside this tree's, taking turns with it, for the memory and Redis targets")
	fs.BoolVar(&o.logoutLatency, "logout-latency", false, "measure logout-to-refusal across two gates sharing one Redis instead of the load rounds: logouts on gate A, watched from gate B with and without the local cache (SPEC section 12)")
	fs.IntVar(&o.logouts, "logouts", 1000, "logout-latency: logouts per gate B")
	var faults string
	fs.StringVar(&faults, "faults", "", "run fault experiments instead of the load rounds: all, or comma-separated: "+strings.Join(faultNames(), ", ")+" (see docs/reliability.md)")
	fs.DurationVar(&o.faults.before, "before", 3*time.Second, "faults: load before the fault")
	fs.DurationVar(&o.faults.outage, "outage", 5*time.Second, "faults: how long Redis stays down or frozen")
	fs.DurationVar(&o.faults.after, "after", 5*time.Second, "faults: load after Redis is back")
	fs.DurationVar(&o.faults.soak, "soak", 5*time.Minute, "faults: length of the soak")
	fs.IntVar(&o.faults.churn, "churn", 20, "faults: logins, and as many logouts, a second beside the decisions (0: none)")
	fs.DurationVar(&o.faults.timeout, "timeout", time.Second, "faults: gate's session.redis.timeout")
	fs.DurationVar(&o.faults.downAfter, "down-after", 2*time.Second, "faults: the sentinels' down-after-milliseconds")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if faults != "" {
		if o.faults.experiments, err = parseFaults(faults); err != nil {
			return o, err
		}
	}
	if o.profile != "" {
		if o.profile, err = filepath.Abs(o.profile); err == nil {
			err = os.MkdirAll(o.profile, 0o755)
		}
		if err != nil {
			return o, fmt.Errorf("-profile: %w", err)
		}
	}
	if o.baseline != "" {
		if o.baseline, err = filepath.Abs(o.baseline); err == nil {
			var st os.FileInfo
			if st, err = os.Stat(o.baseline); err == nil && (st.IsDir() || st.Mode()&0o111 == 0) {
				err = errors.New("not an executable file")
			}
		}
		if err != nil {
			return o, fmt.Errorf("-baseline: %w", err)
		}
	}
	o.targets = map[string]bool{}
	for _, t := range strings.Split(targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case "floor", "identity", "memory", "basic", "limited", "redis", "redis-nocache":
			o.targets[t] = true
		case "none", "":
		default:
			return o, fmt.Errorf("unknown target %q", t)
		}
	}
	if o.logouts < 1 {
		return o, errors.New("-logouts must be at least 1")
	}
	if o.rounds < 1 || o.conns < 1 || o.sessions < 1 {
		return o, errors.New("-rounds, -conns and -sessions must be at least 1")
	}
	return o, nil
}

type target struct {
	name string
	// floor marks the bare servers, which need no logins.
	floor bool
	// kind is how a gate target's requests authenticate and where they
	// go: cookies to app.example.com (""), Basic credentials ("basic"),
	// cookies to the rate-limited limited.example.com ("limited").
	kind string
	p    *proc
	reqs [][]byte
	// redis counts the commands of the Redis target's server, redisProc.
	redis     *commandStats
	redisProc *proc
	// cpu adds up the CPU time spent during the target's turns, commands
	// the Redis commands sent then; rssKiB is the peak RSS seen.
	cpu      cpuShare
	commands int64
	rssKiB   int
}

func run(args []string, out io.Writer) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	raiseFileLimit()
	if len(o.faults.experiments) > 0 {
		return runFaults(o, out)
	}
	if o.logoutLatency {
		return runLogoutLatency(o, out)
	}
	dir, err := os.MkdirTemp("", "gate-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	b := &bench{o: o, dir: dir}
	defer b.stop()
	if err := b.start(); err != nil {
		return err
	}
	if err := b.prepare(context.Background()); err != nil {
		return err
	}
	if o.profile != "" {
		stop, err := profileClient(o.profile)
		if err != nil {
			return err
		}
		defer stop()
		for _, t := range b.targets {
			t.p.startProfile()
		}
	}
	results, err := b.measure()
	if err != nil {
		return err
	}
	failures := b.report(out, results)

	if o.burst > 0 && o.targets["redis"] {
		r := burst(findTarget(b.targets, "gate redis"), o.burst)
		fmt.Fprintf(out, "\nburst: %d connections at once against the Redis store (pool of 8): %d × 200, %d errors, %d false 401/302, %d other; slowest %s\n",
			o.burst, r.ok, r.errors, r.loggedOut, r.other, fmtDur(r.slowest))
		if r.errors > 0 || r.loggedOut > 0 || r.other > 0 {
			failures = append(failures, "burst: not every request answered 200")
		}
	}
	if o.memorySessions > 0 {
		if err := memoryReport(out, o.memorySessions); err != nil {
			return err
		}
	}
	if o.targets["redis"] && o.cacheSessions > 0 {
		if err := cacheMemoryReport(out, b.redisProc.addr, o.cacheSessions); err != nil {
			return err
		}
	}
	if o.logins > 0 {
		if err := loginReport(out, o, b.gateBin, dir); err != nil {
			failures = append(failures, err.Error())
		}
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

// bench is one run of the harness: its targets and what they share.
type bench struct {
	o       options
	dir     string
	gateBin string
	targets []*target
	// redisProc is the Redis server of the Redis targets; stats counts its
	// commands.
	redisProc *proc
	stats     *commandStats
}

// stop ends every process the run started.
func (b *bench) stop() {
	for _, t := range b.targets {
		t.p.stop()
	}
	if b.stats != nil {
		b.stats.Close()
	}
	b.redisProc.stop()
}

// start builds gate when a gate target is asked for and starts every
// target. What started is in b.targets even on error, so stop ends it.
func (b *bench) start() error {
	o := b.o
	if o.targets["memory"] || o.targets["basic"] || o.targets["limited"] || o.targets["redis"] || o.targets["redis-nocache"] || o.logins > 0 {
		fmt.Fprintln(os.Stderr, "building gate …")
		bin, err := buildGate(b.dir, o.profile != "")
		if err != nil {
			return err
		}
		b.gateBin = bin
	}
	for _, f := range []struct {
		key, name string
		headers   bool
	}{{"floor", "floor", false}, {"identity", "floor+headers", true}} {
		if !o.targets[f.key] {
			continue
		}
		p, err := startFloor(o.profile, f.headers)
		if err != nil {
			return err
		}
		b.targets = append(b.targets, &target{name: f.name, floor: true, p: p})
	}
	if o.targets["memory"] {
		if err := b.startGates("gate memory", "gate-memory", ""); err != nil {
			return err
		}
	}
	// The machine-client targets run this tree's gate alone: a baseline
	// may predate their configuration keys.
	for _, k := range []string{"basic", "limited"} {
		if !o.targets[k] {
			continue
		}
		p, err := startGate(b.gateBin, b.dir, "gate-"+k, o.sessions, "", o.profile, true)
		if err != nil {
			return err
		}
		b.targets = append(b.targets, &target{name: "gate " + k, kind: k, p: p})
	}
	if o.targets["redis"] || o.targets["redis-nocache"] {
		var err error
		if b.redisProc, err = startRedis(b.dir); err != nil {
			return err
		}
		host, port, _ := strings.Cut(b.redisProc.addr, ":")
		redisCfg := fmt.Sprintf("  redis:\n    host: %s\n    port: %s\n    maximum_active_connections: 8\n", host, port)
		b.stats = newCommandStats(b.redisProc.addr)
		if o.targets["redis"] {
			if err := b.startGates("gate redis", "gate-redis", redisCfg); err != nil {
				return err
			}
		}
		if o.targets["redis-nocache"] {
			// This tree's gate alone: a baseline may predate the key.
			cfg := redisCfg + "    local_cache:\n      enabled: false\n"
			p, err := startGate(b.gateBin, b.dir, "gate-redis-nocache", o.sessions, cfg, o.profile, false)
			if err != nil {
				return err
			}
			b.targets = append(b.targets, &target{name: "gate redis nocache", p: p, redis: b.stats, redisProc: b.redisProc})
		}
	}
	return nil
}

// startGates starts this tree's gate and, with -baseline, the other one
// right after it, so that the two take turns next to each other. Both
// Redis targets share one Redis: each one's commands and Redis's CPU are
// counted during its own turns only.
func (b *bench) startGates(name, file, redisCfg string) error {
	bins := []string{b.gateBin}
	if b.o.baseline != "" {
		bins = append(bins, b.o.baseline)
	}
	for i, bin := range bins {
		n, f := name, file
		if i > 0 {
			n, f = n+" (baseline)", f+"-baseline"
		}
		p, err := startGate(bin, b.dir, f, b.o.sessions, redisCfg, b.o.profile, false)
		if err != nil {
			return err
		}
		t := &target{name: n, p: p}
		if redisCfg != "" {
			t.redis, t.redisProc = b.stats, b.redisProc
		}
		b.targets = append(b.targets, t)
	}
	return nil
}

// prepare logs each gate's users in and warms every target up. The floors
// replay the first gate's requests (they ignore them, but the bytes on the
// wire are the same).
func (b *bench) prepare(ctx context.Context) error {
	var shared [][]byte
	for _, t := range b.targets {
		if t.floor {
			continue
		}
		if t.kind == "basic" {
			for i := range b.o.sessions {
				t.reqs = append(t.reqs, basicRequest("gate", fmt.Sprintf("user%d", i), benchPassword, i))
			}
			fmt.Fprintf(os.Stderr, "checking %d Basic credentials on %s …\n", b.o.sessions, t.name)
			if err := prime(t.p.addr, t.reqs); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			continue
		}
		fmt.Fprintf(os.Stderr, "logging in %d users on %s …\n", b.o.sessions, t.name)
		cookies, err := login(ctx, t.p.addr, b.o.sessions, 8)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		forwardedHost := "app.example.com"
		if t.kind == "limited" {
			forwardedHost = "limited.example.com"
		}
		for i, c := range cookies {
			t.reqs = append(t.reqs, authzRequestTo("gate", forwardedHost, "Cookie: "+c, i))
		}
		if shared == nil && t.kind == "" {
			shared = t.reqs
		}
	}
	if shared == nil {
		for i := 0; i < b.o.sessions; i++ {
			shared = append(shared, authzRequest("gate", "gate_session=placeholder", i))
		}
	}
	for _, t := range b.targets {
		if t.reqs == nil {
			t.reqs = shared
		}
		if err := warm(t.p.addr, t.reqs, b.o.conns); err != nil {
			return fmt.Errorf("%s: warm-up: %w", t.name, err)
		}
	}
	return nil
}

// measure drives the targets in interleaved rounds and returns each
// target's rounds; peak RSS, CPU and Redis commands go into the targets.
func (b *bench) measure() (map[string][]roundResult, error) {
	results := make(map[string][]roundResult)
	for round := 1; round <= b.o.rounds && len(b.targets) > 0; round++ {
		for _, t := range b.targets {
			var before int64
			if t.redis != nil {
				var err error
				if before, err = t.redis.sent(); err != nil {
					return nil, err
				}
			}
			c0 := t.cpuNow()
			r := drive(t.p.addr, t.reqs, b.o.conns, b.o.duration)
			t.cpu.add(t.cpuNow().sub(c0))
			if t.redis != nil {
				after, err := t.redis.sent()
				if err != nil {
					return nil, err
				}
				t.commands += after - before
			}
			t.rssKiB = max(t.rssKiB, t.p.rssKiB())
			results[t.name] = append(results[t.name], r)
			fmt.Fprintf(os.Stderr, "round %d %-12s %9.0f req/s  errors %d  non-200 %d\n", round, t.name, r.rps(), r.errors, r.non200)
		}
	}
	return results, nil
}

// report prints the summary table and returns what went wrong: errors, and
// answers other than 200 from gate.
func (b *bench) report(out io.Writer, results map[string][]roundResult) []string {
	var failures []string
	var sums []summary
	for _, t := range b.targets {
		s := summarize(t.name, results[t.name])
		s.rssKiB = t.rssKiB
		s.cpu = t.cpu
		if t.redis != nil && s.requests > 0 {
			s.commandsPerReq = float64(t.commands) / float64(s.requests)
			s.hasCommandStats = true
		}
		sums = append(sums, s)
		if s.errors > 0 || (!t.floor && s.non200 > 0) {
			failures = append(failures, fmt.Sprintf("%s: %d errors, %d non-200 answers", t.name, s.errors, s.non200))
		}
	}
	if len(sums) > 0 {
		printSummary(out, b.o, sums, results)
	}
	return failures
}

// cpuShare is CPU time spent during a target's turns, by process.
type cpuShare struct{ server, redis, client time.Duration }

func (c *cpuShare) add(d cpuShare) {
	c.server += d.server
	c.redis += d.redis
	c.client += d.client
}

func (c cpuShare) sub(d cpuShare) cpuShare {
	return cpuShare{c.server - d.server, c.redis - d.redis, c.client - d.client}
}

func (t *target) cpuNow() cpuShare {
	c := cpuShare{server: t.p.cpu(), client: cpuTime(os.Getpid())}
	if t.redisProc != nil {
		c.redis = t.redisProc.cpu()
	}
	return c
}

func findTarget(ts []*target, name string) *target {
	for _, t := range ts {
		if t.name == name {
			return t
		}
	}
	return nil
}

func printSummary(out io.Writer, o options, sums []summary, results map[string][]roundResult) {
	ratio := func(name, ref string) string {
		if rs := roundRatios(results[name], results[ref]); len(rs) > 0 {
			return fmt.Sprintf("%.2f", rs[len(rs)/2])
		}
		return "—"
	}
	fmt.Fprintf(out, "forward-auth, %d connections, %d sessions, %d rounds × %s per target\n\n", o.conns, o.sessions, o.rounds, o.duration)
	fmt.Fprintln(out, "| target | req/s (median) | × floor | × floor+headers | p50 | p99 | p99.9 | errors | RSS | CPU µs/request: server + Redis + client | Redis commands / decision |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range sums {
		cmds := "—"
		if s.hasCommandStats {
			cmds = fmt.Sprintf("%.3f", s.commandsPerReq)
		}
		fmt.Fprintf(out, "| %s | %.0f | %s | %s | %s | %s | %s | %d | %.1f MiB | %s | %s |\n", s.name, s.rps,
			ratio(s.name, "floor"), ratio(s.name, "floor+headers"),
			fmtDur(s.p50), fmtDur(s.p99), fmtDur(s.p999), s.errors+s.non200, float64(s.rssKiB)/1024, s.cpuPerRequest(), cmds)
	}
	fmt.Fprintln(out, "\nRatios are medians of per-round ratios: each compares two targets' turns in the same round.")
	for _, name := range []string{"gate redis", "gate redis nocache"} {
		if rs := roundRatios(results[name], results["gate memory"]); len(rs) > 0 {
			fmt.Fprintf(out, "%s × gate memory: %.2f (rounds %.2f to %.2f)\n", name, rs[len(rs)/2], rs[0], rs[len(rs)-1])
		}
	}
	for _, s := range sums {
		if rs := roundRatios(results[s.name], results["floor"]); s.name != "floor" && len(rs) > 1 {
			fmt.Fprintf(out, "%s × floor, round by round: %.2f to %.2f\n", s.name, rs[0], rs[len(rs)-1])
		}
	}
}

// raiseFileLimit lifts the soft descriptor limit to the hard one: the burst
// opens a thousand connections, and children inherit the limit.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// profileClient profiles the load generator itself, to show its share of
// the CPU the servers compete for.
func profileClient(dir string) (stop func(), err error) {
	f, err := os.Create(filepath.Join(dir, "client.cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
