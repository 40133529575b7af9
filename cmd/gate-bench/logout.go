package main

import (
	"bufio"
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
	"time"
)

// refusalCap is how long gate B may go on answering 200 after a logout's
// answer before the logout counts as never refused there.
const refusalCap = time.Second

// logoutSeries is one gate B the logouts on gate A are watched from, and
// what it showed.
type logoutSeries struct {
	name string
	// cached says whether B runs the local session cache, whose entries
	// must be shown filled before the logouts.
	cached bool
	b      *proc
	// authz is one forward-auth request per session, for B.
	authz [][]byte
	// cookies are the sessions' cookie headers, for the logouts on A.
	cookies []string
	// lat holds, per logout, the time from the logout's answer to B's
	// first refusal; past refusalCap, the time B was last polled.
	lat []time.Duration
	// stale counts B's 200s after a logout's answer; never the logouts B
	// still allowed after refusalCap.
	stale, never int
}

// runLogoutLatency measures SPEC section 12's logout-to-refusal time across
// instances: gate A and two gate Bs on one redis-server, B with the local
// session cache and B without it (the baseline: every decision reads
// Redis). It logs sessions in on A, has each answered 200 by its B (so that
// the cached B holds it), then ends them one by one on A, the two Bs taking
// turns, and polls B in a tight loop from the logout's answer until it
// stops answering 200.
func runLogoutLatency(o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "gate-logout")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building gate …")
	bin, err := buildGate(dir, false)
	if err != nil {
		return err
	}
	r, err := startRedis(dir)
	if err != nil {
		return err
	}
	defer r.stop()
	host, port, _ := strings.Cut(r.addr, ":")
	redisCfg := fmt.Sprintf("  redis:\n    host: %s\n    port: %s\n", host, port)

	n := o.logouts
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	// One password hash for the three: a session carries its user's
	// credential stamp, and a gate whose users file had another hash would
	// refuse A's sessions as revoked.
	hash := cheapHash()
	for _, g := range []struct{ name, cfg string }{
		{"gate-a", redisCfg},
		{"gate-b", redisCfg},
		{"gate-b-nocache", redisCfg + "    local_cache:\n      enabled: false\n"},
	} {
		p, err := startGateHash(bin, dir, g.name, 2*n, g.cfg, hash)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	a := procs[0]

	fmt.Fprintf(os.Stderr, "logging in %d users on gate A …\n", 2*n)
	cookies, err := login(context.Background(), a.addr, 2*n, 8)
	if err != nil {
		return fmt.Errorf("gate A: %w", err)
	}
	series := []*logoutSeries{
		{name: "local cache on", cached: true, b: procs[1], cookies: cookies[:n]},
		{name: "local cache off (baseline)", b: procs[2], cookies: cookies[n:]},
	}
	for _, s := range series {
		for i, c := range s.cookies {
			s.authz = append(s.authz, authzRequest("gate", c, i))
		}
		if err := s.prepare(); err != nil {
			return fmt.Errorf("gate B, %s: %w", s.name, err)
		}
	}
	fmt.Fprintf(os.Stderr, "%d logouts on gate A, watched from each gate B in turn …\n", n)
	if err := measureLogouts(a.addr, series, n); err != nil {
		return err
	}
	return reportLogoutLatency(out, n, series)
}

// startGateHash starts gate with users whose password hash is hash.
func startGateHash(bin, dir, name string, users int, redis, hash string) (*proc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg, err := writeGateConfigHash(dir, name, addr, users, redis, hash, "error", false)
	if err != nil {
		return nil, err
	}
	return start(name, exec.Command(bin, "serve", "--config", cfg), addr, httpReady(addr, "/readyz"))
}

// prepare has B answer 200 for every session. For the cached B it then
// repeats the round until every decision of a round is a cache hit, by
// B's metrics: the first reads after a login may not fill the cache (the
// login's own invalidation, arriving while they are out, voids them), and
// a logout of a session B never cached would measure a Redis read, not an
// invalidation.
func (s *logoutSeries) prepare() error {
	if s.cached {
		if err := waitMetric(s.b.addr, "gate_session_cache_stream_up", 1, 10*time.Second); err != nil {
			return err
		}
	}
	for try := 0; ; try++ {
		before, err := cacheHits(s.b.addr, s.cached)
		if err != nil {
			return err
		}
		if err := allAllowed(s.b.addr, s.authz); err != nil {
			return err
		}
		after, err := cacheHits(s.b.addr, s.cached)
		if err != nil {
			return err
		}
		if !s.cached || after-before >= float64(len(s.authz)) {
			return nil
		}
		if try == 10 {
			return fmt.Errorf("only %.0f of %d sessions answered from the local cache after %d rounds", after-before, len(s.authz), try+1)
		}
	}
}

// measureLogouts ends the series' sessions on A one at a time, the series
// taking turns logout by logout so that the machine's drift falls on both
// alike, and records each logout's way to B.
func measureLogouts(aAddr string, series []*logoutSeries, n int) error {
	a, err := dial(aAddr)
	if err != nil {
		return err
	}
	defer a.Close()
	bs := make([]*conn, len(series))
	for i, s := range series {
		if bs[i], err = dial(s.b.addr); err != nil {
			return err
		}
		defer bs[i].Close()
	}
	for i := range n {
		for j, s := range series {
			if err := s.logoutOne(a, bs[j], i); err != nil {
				return fmt.Errorf("%s, logout %d: %w", s.name, i, err)
			}
		}
	}
	return nil
}

// logoutOne ends session i on A and polls B, with no pause, from the
// logout's answer until B refuses the session or refusalCap passes.
func (s *logoutSeries) logoutOne(a, b *conn, i int) error {
	code, err := a.do(logoutRequest(s.cookies[i]))
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("logout answered %d", code)
	}
	start := time.Now()
	for {
		code, err := b.do(s.authz[i])
		if err != nil {
			return err
		}
		took := time.Since(start)
		switch code {
		case http.StatusOK:
			s.stale++
			if took > refusalCap {
				// Counted at the cap and beyond, so that the percentiles
				// cover every logout.
				s.lat = append(s.lat, took)
				s.never++
				return nil
			}
		case http.StatusFound, http.StatusUnauthorized:
			s.lat = append(s.lat, took)
			return nil
		default:
			return fmt.Errorf("gate B answered %d", code)
		}
	}
}

// logoutRequest is the portal's JSON logout for the session in cookie.
func logoutRequest(cookie string) []byte {
	return []byte("POST /api/logout HTTP/1.1\r\nHost: auth.example.com\r\nAccept: application/json\r\n" +
		"Cookie: " + cookie + "\r\nContent-Length: 0\r\n\r\n")
}

// allAllowed sends every request once on one connection and wants 200 for
// each.
func allAllowed(addr string, reqs [][]byte) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for i, req := range reqs {
		code, err := c.do(req)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("session %d: status %d before its logout", i, code)
		}
	}
	return nil
}

// cacheHits is gate's gate_session_cache_hits_total, 0 when the gate runs
// no cache.
func cacheHits(addr string, cached bool) (float64, error) {
	if !cached {
		return 0, nil
	}
	return metricValue(addr, "gate_session_cache_hits_total")
}

// waitMetric polls gate's metric name until it reads want.
func waitMetric(addr, name string, want float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		v, err := metricValue(addr, name)
		if err == nil && v == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not %v after %v (last %v, %v)", name, want, timeout, v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricValue reads one unlabelled metric from gate's /metrics.
func metricValue(addr, name string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/metrics: no %s", name)
}

// reportLogoutLatency prints one row per gate B and fails when a logout
// was never refused.
func reportLogoutLatency(out io.Writer, n int, series []*logoutSeries) error {
	fmt.Fprintf(out, "logout to refusal: %d logouts on gate A, each session answered 200 by gate B first; B polled on one keep-alive connection, with no pause, from the logout's answer until it stops answering 200 (cap %s); the two Bs take turns logout by logout; one redis-server\n\n", n, refusalCap)
	fmt.Fprintln(out, "| gate B | logouts | p50 | p90 | p99 | max | 200s after the logout's answer | never refused |")
	fmt.Fprintln(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var failures []string
	for _, s := range series {
		slices.Sort(s.lat)
		worst := "—"
		if len(s.lat) > 0 {
			worst = fmtDur(s.lat[len(s.lat)-1])
		}
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s | %d | %d |\n", s.name, len(s.lat),
			fmtDur(pct(s.lat, 0.50)), fmtDur(pct(s.lat, 0.90)), fmtDur(pct(s.lat, 0.99)), worst, s.stale, s.never)
		if s.never > 0 {
			failures = append(failures, fmt.Sprintf("%s: %d logouts still allowed on gate B after %s", s.name, s.never, refusalCap))
		}
	}
	if c := series[0]; len(c.lat) > 0 {
		verdict := "met"
		if c.never > 0 || pct(c.lat, 0.99) > 10*time.Millisecond {
			verdict = "not met"
		}
		fmt.Fprintf(out, "\nSPEC section 12, p99 at most 10 ms with the local cache: %s (%s).\n", verdict, fmtDur(pct(c.lat, 0.99)))
	}
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "; "))
	}
	return nil
}
