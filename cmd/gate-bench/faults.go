package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The fault harness (-faults): gate under load while its Redis fails, each
// experiment against Redis processes of its own. See docs/reliability.md.

// faultOptions are the flags of the fault experiments.
type faultOptions struct {
	// experiments are the names to run, in order.
	experiments []string
	// before and after are the load before the fault and after Redis is
	// back; outage is how long Redis stays down (or frozen); soak is the
	// length of the soak.
	before, after, outage, soak time.Duration
	// churn is logins (and as many logouts) a second beside the decisions.
	churn int
	// timeout is gate's session.redis.timeout.
	timeout time.Duration
	// downAfter is the sentinels' down-after-milliseconds.
	downAfter time.Duration
}

// faultExperiment is one experiment: a Redis deployment, and what befalls
// it while gate serves.
type faultExperiment struct {
	name, about string
	// deploy starts the deployment and returns gate's session.redis
	// section for it.
	deploy func(x *faultRun) (string, error)
	// fault breaks Redis and brings it back (or waits for Sentinel to),
	// setting x.faultAt and x.backAt.
	fault func(x *faultRun) error
	// failover marks a Sentinel failover: Redis's asynchronous replication
	// may lose writes it acknowledged shortly before it and until
	// +switch-master, logouts and logins among them.
	failover bool
}

var faultExperiments = []faultExperiment{
	{
		name:  "kill-aof",
		about: "kill -9 the Redis server, restart it after -outage from its append-only file (appendfsync always)",
		deploy: func(x *faultRun) (string, error) {
			return x.single("appendonly yes", "appendfsync always", `save ""`)
		},
		fault: func(x *faultRun) error { return x.killRestart(false) },
	},
	{
		name:  "restart-empty",
		about: "kill -9 the Redis server, restart it after -outage without data: every session is gone",
		deploy: func(x *faultRun) (string, error) {
			return x.single("appendonly no", `save ""`)
		},
		fault: func(x *faultRun) error { return x.killRestart(true) },
	},
	{
		name:  "sentinel-kill",
		about: "kill -9 the master of a Sentinel group (master, replica, 3 sentinels); Sentinel promotes the replica",
		deploy: func(x *faultRun) (string, error) {
			return x.sentinel()
		},
		fault: func(x *faultRun) error {
			return x.sentinelSwitch(func() error { x.group.master.kill(); return nil })
		},
		failover: true,
	},
	{
		name:  "sentinel-failover",
		about: "SENTINEL FAILOVER: the sentinels promote the replica and demote the master",
		deploy: func(x *faultRun) (string, error) {
			return x.sentinel()
		},
		fault: func(x *faultRun) error {
			return x.sentinelSwitch(func() error { return x.group.failover(context.Background()) })
		},
		failover: true,
	},
	{
		name:  "freeze",
		about: "SIGSTOP the Redis server, SIGCONT after -outage: connections stay open, nothing answers",
		deploy: func(x *faultRun) (string, error) {
			return x.single("appendonly no", `save ""`)
		},
		fault: func(x *faultRun) error { return x.freeze() },
	},
	{
		name:  "soak",
		about: "no fault: decisions, logins and logouts for -soak",
		deploy: func(x *faultRun) (string, error) {
			return x.single("appendonly no", `save ""`)
		},
		fault: func(x *faultRun) error {
			time.Sleep(x.o.faults.soak)
			return nil
		},
	},
}

func faultNames() []string {
	var names []string
	for _, e := range faultExperiments {
		names = append(names, e.name)
	}
	return names
}

// parseFaults reads -faults: "all" or names of faultExperiments.
func parseFaults(v string) ([]string, error) {
	if v == "all" {
		return faultNames(), nil
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(faultNames(), n) {
			return nil, fmt.Errorf("-faults: unknown experiment %q (have %s, or all)", n, strings.Join(faultNames(), ", "))
		}
		names = append(names, n)
	}
	return names, nil
}

// faultRun is one experiment's run: its processes, its load and its times.
type faultRun struct {
	o     options
	dir   string
	node  *redisNode
	group *sentinelGroup
	gate  *proc
	log   *gateLog
	load  *faultLoad
	// faultAt is when Redis broke and backAt when it served again, since
	// the epoch; hasFault is false for the soak.
	faultAt, backAt time.Duration
	hasFault        bool
	samples         []procSample
	// stopWatch ends the watch of +switch-master announcements, and
	// lastSwitch then gives the last one.
	stopWatch  func()
	lastSwitch chan time.Duration
}

// procSample is gate's RSS and goroutines at one moment.
type procSample struct {
	at         time.Duration
	rssKiB     int
	goroutines int
}

// faultResult is what the report prints of one run.
type faultResult struct {
	// label names the row: the experiment, and the gate binary unless
	// it is this tree's.
	label           string
	exp             faultExperiment
	t               *tally
	churn           churnTally
	faultAt, backAt time.Duration
	// lastSwitch is the last sentinel's +switch-master; 0 without.
	lastSwitch time.Duration
	hasFault   bool
	samples    []procSample
	log        logSummary
}

func (x *faultRun) single(conf ...string) (string, error) {
	n, err := newRedisNode(x.dir, "redis", false, conf...)
	if err != nil {
		return "", err
	}
	x.node = n
	if _, err := n.start(); err != nil {
		return "", err
	}
	return fmt.Sprintf("  redis:\n    host: 127.0.0.1\n    port: %d\n    timeout: %s\n", n.port, x.o.faults.timeout), nil
}

func (x *faultRun) sentinel() (string, error) {
	fmt.Fprintln(os.Stderr, "starting a Sentinel group …")
	g, err := startSentinelGroup(x.dir, x.o.faults.downAfter)
	x.group = g
	if err != nil {
		return "", err
	}
	return g.gateConfig(x.o.faults.timeout), nil
}

func (x *faultRun) since() time.Duration { return x.load.since() }

// killRestart kills the server, waits -outage and starts it again on its
// port; empty marks every session ended, as the restarted server has
// none.
func (x *faultRun) killRestart(empty bool) error {
	x.hasFault = true
	x.faultAt = x.since()
	x.node.kill()
	if empty {
		x.load.sessions.endAll(x.faultAt)
	}
	time.Sleep(x.o.faults.outage)
	up, err := x.node.start()
	if err != nil {
		return err
	}
	x.backAt = up.Sub(x.load.epoch)
	return nil
}

// freeze stops the server for -outage.
func (x *faultRun) freeze() error {
	x.hasFault = true
	x.faultAt = x.since()
	if err := x.node.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	time.Sleep(x.o.faults.outage)
	x.backAt = x.since()
	return x.node.signal(syscall.SIGCONT)
}

// sentinelSwitch breaks the master with do and waits for the first
// +switch-master: Redis is back for gate when Sentinel names the new
// master. The other sentinels' announcements, which follow, are kept as
// x.lastSwitch until the run ends.
func (x *faultRun) sentinelSwitch(do func() error) error {
	ctx, cancel := context.WithCancel(context.Background())
	x.stopWatch = cancel
	switched, err := x.group.watchSwitch(ctx)
	if err != nil {
		return err
	}
	x.hasFault = true
	x.faultAt = x.since()
	if err := do(); err != nil {
		return err
	}
	select {
	case at := <-switched:
		x.backAt = at.Sub(x.load.epoch)
	case <-time.After(60 * time.Second):
		return errors.New("no +switch-master within 60s")
	}
	x.lastSwitch = make(chan time.Duration, 1)
	go func() {
		last := x.backAt
		for {
			select {
			case at := <-switched:
				last = at.Sub(x.load.epoch)
			case <-ctx.Done():
				x.lastSwitch <- last
				return
			}
		}
	}()
	return nil
}

func (x *faultRun) cleanup() {
	x.gate.stop()
	if x.group != nil {
		x.group.stop()
	}
	if x.node != nil {
		x.node.kill()
	}
}

// startGate runs gate on the deployment with its log read by x.log.
func (x *faultRun) startGate(bin, redisCfg string) error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	cfg, err := writeGateConfig(x.dir, "gate", addr, x.o.sessions, redisCfg, "info", false)
	if err != nil {
		return err
	}
	x.log = newGateLog()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = x.log, x.log
	x.gate, err = start("gate", cmd, addr, httpReady(addr, "/readyz"))
	return err
}

// sample records gate's RSS and goroutines every interval until ctx ends.
func (x *faultRun) sample(ctx context.Context, every time.Duration) <-chan []procSample {
	out := make(chan []procSample, 1)
	go func() {
		var s []procSample
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			s = append(s, procSample{at: x.since(), rssKiB: x.gate.rssKiB(), goroutines: goroutines(x.gate.addr)})
			select {
			case <-ctx.Done():
				out <- s
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// goroutines reads go_goroutines from gate's /metrics; -1 if it cannot.
func goroutines(addr string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// runFaults runs the experiments of -faults one after the other and
// prints their tables.
func runFaults(o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "gate-faults")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building gate …")
	bin, err := buildGate(dir, false)
	if err != nil {
		return err
	}
	// With -baseline, each experiment runs on that gate binary too, right
	// after this tree's: a before and after.
	gates := []struct{ label, bin string }{{"", bin}}
	if o.baseline != "" {
		gates = append(gates, struct{ label, bin string }{" (baseline)", o.baseline})
	}
	var results []faultResult
	for _, name := range o.faults.experiments {
		i := slices.IndexFunc(faultExperiments, func(e faultExperiment) bool { return e.name == name })
		for _, g := range gates {
			r, err := runFault(o, g.bin, dir, faultExperiments[i])
			if err != nil {
				return fmt.Errorf("%s%s: %w", name, g.label, err)
			}
			r.label = name + g.label
			results = append(results, r)
		}
	}
	return reportFaults(out, o, results)
}

// runFault runs one experiment from start to end.
func runFault(o options, bin, root string, e faultExperiment) (faultResult, error) {
	dir, err := os.MkdirTemp(root, e.name)
	if err != nil {
		return faultResult{}, err
	}
	x := &faultRun{o: o, dir: dir}
	defer x.cleanup()
	fmt.Fprintf(os.Stderr, "%s: %s\n", e.name, e.about)
	redisCfg, err := e.deploy(x)
	if err != nil {
		return faultResult{}, err
	}
	if err := x.startGate(bin, redisCfg); err != nil {
		return faultResult{}, err
	}
	fmt.Fprintf(os.Stderr, "%s: logging in %d users …\n", e.name, o.sessions)
	cookies, err := login(context.Background(), x.gate.addr, o.sessions, 8)
	if err != nil {
		return faultResult{}, err
	}
	sessions := newSessionSet(cookies)
	if err := warm(x.gate.addr, sessions.requests(), o.conns); err != nil {
		return faultResult{}, fmt.Errorf("warm-up: %w", err)
	}

	epoch := time.Now()
	x.load = startFaultLoad(x.gate.addr, sessions, o.sessions, o.conns, o.faults.churn, epoch)
	every := time.Second
	if e.name == "soak" {
		every = 10 * time.Second
	}
	sctx, stopSampling := context.WithCancel(context.Background())
	samples := x.sample(sctx, every)
	time.Sleep(o.faults.before)
	fmt.Fprintf(os.Stderr, "%s: fault\n", e.name)
	ferr := e.fault(x)
	if ferr == nil {
		time.Sleep(o.faults.after)
	}
	t := x.load.stop()
	stopSampling()
	x.samples = <-samples
	var lastSwitch time.Duration
	if x.stopWatch != nil {
		x.stopWatch()
		if x.lastSwitch != nil {
			lastSwitch = <-x.lastSwitch
		}
	}
	if ferr != nil {
		return faultResult{}, ferr
	}
	x.gate.stop()
	return faultResult{exp: e, t: t, churn: x.load.churned(), faultAt: x.faultAt, backAt: x.backAt, lastSwitch: lastSwitch,
		hasFault: x.hasFault, samples: x.samples, log: x.log.summary()}, nil
}

func (s *sessionSet) requests() [][]byte {
	var reqs [][]byte
	for _, ls := range s.all() {
		reqs = append(reqs, ls.req)
	}
	return reqs
}

// replicationLag is how long before a failover a write acknowledged by
// the master may still be missing on the replica it promotes; switchLag is
// how long after the last sentinel's +switch-master gate may still write
// to the old master (its own sentinel may be that last one).
const (
	replicationLag = time.Second
	switchLag      = 100 * time.Millisecond
)

// recoveryTarget is how soon after Redis is back decisions must be served
// again: 50 ms after its first PONG, and on Sentinel 100 ms after
// +switch-master.
func recoveryTarget(e faultExperiment) time.Duration {
	if e.failover {
		return 100 * time.Millisecond
	}
	return 50 * time.Millisecond
}

// reportFaults prints the three tables and returns an error when gate
// broke a rule that must hold whatever the fault: a 200 for an ended
// session, a 5xx other than 503.
func reportFaults(out io.Writer, o options, results []faultResult) error {
	f := o.faults
	fmt.Fprintf(out, "fault experiments: %d connections of decisions, %d sessions, %d logins and %d logouts a second; session.redis.timeout %s; Redis down %s (kill, freeze), load %s before and %s after\n\n",
		o.conns, o.sessions, f.churn, f.churn, f.timeout, f.outage, f.before, f.after)

	fmt.Fprintln(out, "Answers:")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| experiment | decisions | 200 | 302 | 503 | other 5xx | no answer | 200 for an ended session | 302 for a live session | logins ok / failed | logouts ok / failed |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var failures []string
	lostNote, crashNote := false, false
	for _, r := range results {
		total, other5xx := 0, 0
		for c, n := range r.t.codes {
			total += n
			if c >= 500 && c != http.StatusServiceUnavailable {
				other5xx += n
			}
		}
		// On a failover, what ended or began in the window Redis may lose
		// is told apart: Redis lost the write, gate answered what Redis
		// holds.
		from, to := time.Duration(-1), time.Duration(-1)
		if r.exp.failover {
			from, to = r.faultAt-replicationLag, max(r.backAt, r.lastSwitch)+switchLag
		}
		deadLost, dead := split(r.t.deadAllowed, from, to)
		liveLost, live := split(r.t.liveRefused, from, to)
		deadCell, liveCell := strconv.Itoa(dead), strconv.Itoa(live)
		if r.exp.failover {
			deadCell += fmt.Sprintf(" (+%d lost by Redis)", deadLost)
			liveCell += fmt.Sprintf(" (+%d lost by Redis)", liveLost)
			lostNote = lostNote || deadLost+liveLost > 0
		}
		if r.t.crashUnseen > 0 {
			deadCell += fmt.Sprintf(" (+%d before the crash was seen)", r.t.crashUnseen)
			crashNote = true
		}
		fmt.Fprintf(out, "| %s | %d | %d | %d | %d | %d | %d | %s | %s | %d / %d | %d / %d |\n", r.label, total,
			r.t.codes[200], r.t.codes[302], r.t.codes[503], other5xx, r.t.connErrors, deadCell, liveCell,
			r.churn.logins, r.churn.loginsFailed, r.churn.logouts, r.churn.logoutsFailed)
		if dead > 0 || other5xx > 0 {
			failures = append(failures, fmt.Sprintf("%s: %d 200s for an ended session, %d 5xx other than 503", r.label, dead, other5xx))
		}
	}
	if crashNote {
		fmt.Fprintf(out, "\n\"before the crash was seen\": 200s sent within %s of a crash for sessions that were live when Redis died (no logout preceded them), answered by the local session cache before its invalidation stream reported the lost connection.\n", crashUnseen)
	}
	if lostNote {
		fmt.Fprintf(out, "\n\"lost by Redis\": decisions for sessions whose logout (or login) Redis acknowledged from %s before the fault to %s after the last sentinel's +switch-master, and lost with the failover (asynchronous replication).\n", replicationLag, switchLag)
	}

	fmt.Fprintln(out)
	fmt.Fprintln(out, "Times, from the fault (Redis back: its first PONG; Sentinel: the first sentinel's +switch-master; freeze: SIGCONT). Target: decisions served within 50 ms of Redis being back, 100 ms on Sentinel:")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| experiment | Redis out | 503 answers, first → last | last 503 after Redis back | 503s sent later than the target after Redis back | slowest decision |")
	fmt.Fprintln(out, "| --- | --- | --- | ---: | ---: | ---: |")
	for _, r := range results {
		if !r.hasFault {
			fmt.Fprintf(out, "| %s | — | %s | — | — | %s |\n", r.label, window503(r, 0), fmtDur(r.t.slowest))
			continue
		}
		lastAfter := "no 503"
		late := "—"
		if r.t.first503 >= 0 {
			lastAfter = signedMs(r.t.last503 - r.backAt)
			late = strconv.Itoa(r.t.sent503From(r.backAt + recoveryTarget(r.exp)))
		}
		redisOut := secs(r.backAt - r.faultAt)
		if r.lastSwitch > r.backAt {
			redisOut += fmt.Sprintf(" (last sentinel: %s)", secs(r.lastSwitch-r.faultAt))
		}
		fmt.Fprintf(out, "| %s | 0 → %s | %s | %s | %s | %s (sent at %s) |\n", r.label, redisOut,
			window503(r, r.faultAt), lastAfter, late, fmtDur(r.t.slowest), signedSecs(r.t.slowestSent-r.faultAt))
	}

	fmt.Fprintln(out)
	fmt.Fprintln(out, "gate's process and log:")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| experiment | RSS first → last (max) | goroutines first → last (max) | log lines at error level (not the outage's) | Redis lines in the log |")
	fmt.Fprintln(out, "| --- | --- | --- | ---: | --- |")
	for _, r := range results {
		rss, gor := sampleRange(r.samples)
		fmt.Fprintf(out, "| %s | %s | %s | %d (%d) | %s |\n", r.label, rss, gor, r.log.errorLines, r.log.errorOther, strings.Join(r.log.redis, "; "))
	}
	for _, r := range results {
		if r.exp.name == "soak" && len(r.samples) > 0 {
			fmt.Fprintln(out)
			fmt.Fprintf(out, "%s, every %s: ", r.label, secs(r.samples[min(1, len(r.samples)-1)].at-r.samples[0].at))
			var parts []string
			for _, s := range r.samples {
				parts = append(parts, fmt.Sprintf("%s %.1f MiB %d", secs(s.at), float64(s.rssKiB)/1024, s.goroutines))
			}
			fmt.Fprintln(out, strings.Join(parts, " · "))
		}
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}

func window503(r faultResult, from time.Duration) string {
	if r.t.first503 < 0 {
		return "none"
	}
	return fmt.Sprintf("%s → %s", signedSecs(r.t.first503-from), signedSecs(r.t.last503-from))
}

func sampleRange(s []procSample) (rss, gor string) {
	if len(s) == 0 {
		return "—", "—"
	}
	maxRSS, maxGor := 0, 0
	for _, x := range s {
		maxRSS, maxGor = max(maxRSS, x.rssKiB), max(maxGor, x.goroutines)
	}
	mib := func(k int) string { return fmt.Sprintf("%.1f", float64(k)/1024) }
	first, last := s[0], s[len(s)-1]
	return fmt.Sprintf("%s → %s MiB (%s)", mib(first.rssKiB), mib(last.rssKiB), mib(maxRSS)),
		fmt.Sprintf("%d → %d (%d)", first.goroutines, last.goroutines, maxGor)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func signedSecs(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("−%.3f s", -d.Seconds())
	}
	return secs(d)
}

func signedMs(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("−%.1f ms", -float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("+%.1f ms", float64(d)/float64(time.Millisecond))
}
