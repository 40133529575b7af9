package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gate/internal/testkit"
)

// TestPathMatrix is path confusion end to end (SPEC §5, §8.20): every
// shipped proxy in front of three backends that find a request's resource
// differently (nginx serving files, a lenient Python app, a lenient Go app),
// gate judging every request with one rule set, and request targets that
// spell /admin so that a judge reading them literally sees something else
// (/public/..%2fadmin/secret.html got an admin file anonymously through all
// four proxies when gate kept %2F as a character and nginx decoded it).
//
// For every proxy × backend × target × user, a resource the backend served
// must be one the rule set gives that user. Refusals are all fine; the
// table logged on failure and with -v shows who refused what.
func TestPathMatrix(t *testing.T) {
	backends := matrixBackends(t)
	targets := matrixTargets
	if testing.Short() {
		targets = slices.DeleteFunc(slices.Clone(targets), func(v pathTarget) bool { return !v.short })
	}
	var rec matrixRecord
	t.Run("proxy", func(t *testing.T) {
		for _, kind := range proxyKinds {
			t.Run(kind.name, func(t *testing.T) {
				t.Parallel()
				bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
				m := startMatrix(t, kind, bin, backends)
				cells := m.run(t, targets)
				rec.add(kind.name, cells)
				checkLive(t, cells)
				checkServed(t, cells)
			})
		}
	})
	t.Log("\n" + rec.table(backends, targets))
}

// matrixRules is the rule set under attack; %[4]s is the criterion that
// judges the path. Its intent: /public/ for everyone, /admin for admins
// only, everything else for any signed-in user.
const matrixRules = `access_control:
  default_policy: deny
  rules:
    - domain: app.example.com
      %[4]s: ['^/public/']
      policy: bypass
    - domain: app.example.com
      %[4]s: ['^/admin([/].*)?$']
      subject: ['group:admins']
      policy: one_factor
    - domain: app.example.com
      %[4]s: ['^/admin([/].*)?$']
      policy: deny
    - domain: app.example.com
      policy: one_factor
`

// matrixConfig is gate's configuration for the matrix: the portal on one
// of the proxy's stacks, the decision counters the matrix reads on
// /metrics, and matrixRules.
const matrixConfig = `server:
  address: 'tcp://127.0.0.1:%[1]d'
  trusted_proxies: ['127.0.0.0/8', '::1/128']
log:
  level: info
  format: text
portal:
  url: 'http://auth.example.com:%[2]d'
  default_redirect_url: 'http://app.example.com:%[2]d/'
authentication_backend:
  file:
    path: '%[3]s'
metrics:
  enabled: true
session:
  domain: example.com
` + matrixRules

// matrixUser is one column of every stack: who asks, and what the rule set
// gives them.
type matrixUser struct {
	// label names the user in reports; name is empty for anonymous.
	label, name, password, groups string
	// may reports whether the rule set gives this user a served resource.
	may func(resource string) bool
}

var matrixUsers = []matrixUser{
	// "/public" itself is the public folder, as /public/ names it.
	{label: "anonymous", may: func(r string) bool { return inArea(r, "/public") }},
	{label: "dev", name: "dana", password: "dana-matrix-password", groups: "dev",
		may: func(r string) bool { return !inArea(r, "/admin") }},
	{label: "admin", name: "ada", password: "ada-matrix-password", groups: "admins",
		may: func(string) bool { return true }},
}

// pathTarget is a request target sent as is on the wire; short ones run
// under -short too.
type pathTarget struct {
	target string
	short  bool
}

// The plain targets the liveness checks need.
const (
	publicPage  = "/public/page.html"
	adminSecret = "/admin/secret.html"
)

// matrixTargets are the spellings. A backend on a case-insensitive
// filesystem (macOS, Windows) would serve /ADMIN/secret.html as the admin
// file, and Windows also /admin./secret.html: gate's regexes are case
// sensitive, so rules there need (?i); the backends here are Linux's and
// case-sensitive. Overlong UTF-8 (%c0%af for '/') is decoded as a separator
// only by old IIS and Java decoders, none of them here.
var matrixTargets = []pathTarget{
	// Plain.
	{publicPage, true},
	{"/public/", false},
	{adminSecret, true},
	{"/admin/users/", false},
	{"/admin", false},
	// Encoded separators.
	{"/public/..%2fadmin/secret.html", true},
	{"/public/..%2Fadmin/secret.html", true},
	{"/public/%2e%2e%2fadmin/secret.html", false},
	{"/public/%2E%2E/admin/secret.html", true},
	{"/public/%2e%2e/admin/secret.html", false},
	{"/public/.%2e/admin/secret.html", false},
	{"/public/..%5cadmin/secret.html", true},
	{"/public/..%5Cadmin/secret.html", false},
	{"/public/%2e%2e%5cadmin/secret.html", false},
	{"/public%2f..%2fadmin%2fsecret.html", false},
	{"/admin%2Fsecret.html", true},
	{"/admin%2fusers", true},
	{"/admin%5csecret.html", false},
	{"/%61dmin/secret.html", false},
	// Backslashes.
	{`/public\..\admin/secret.html`, true},
	{`/public/..\admin\secret.html`, false},
	{`/admin\secret.html`, false},
	// Path parameters.
	{"/public/..;/admin/secret.html", true},
	{"/public/..;x=1/admin/secret.html", false},
	{"/public;/../admin/secret.html", false},
	{"/admin;x/secret.html", true},
	{"/admin/secret.html;.css", false},
	{"/admin;/secret.html", false},
	// Doubled slashes.
	{"//admin/secret.html", true},
	{"///admin/secret.html", false},
	{"/public//../admin/secret.html", false},
	{"/public/..//admin/secret.html", false},
	// Dot-segments, sent raw.
	{"/public/../admin/secret.html", true},
	{"/public/./../admin/secret.html", false},
	{"/public/x/../../admin/secret.html", false},
	{"/./admin/secret.html", false},
	{"/public/page.html/../../admin/secret.html", false},
	// Case.
	{"/ADMIN/secret.html", false},
	{"/Admin/secret.html", false},
	// Double encoding: decoded once it is still %2F.
	{"/public/..%252fadmin/secret.html", false},
	{"/public/%252e%252e/admin/secret.html", false},
	// NUL.
	{"/admin/secret.html%00", false},
	{"/public/..%00/admin/secret.html", false},
	{"/public/%00/../../admin/secret.html", false},
	// Overlong UTF-8.
	{"/public/..%c0%afadmin/secret.html", false},
	{"/public/%c0%ae%c0%ae/admin/secret.html", false},
	// Queries.
	{"/admin?x=1", true},
	{"/admin/secret.html?x=1", false},
	{"/public/?/../admin/secret.html", true},
	{"/public/..%2fadmin/secret.html?x", false},
	{"/admin/secret.html?/public/", false},
	// '#', encoded and raw (a client never sends a fragment).
	{"/public/%23/../../admin/secret.html", false},
	{"/admin/secret.html%23/public/", false},
	// nginx passes a raw '#' on to the app, and puts it in X-Original-URL:
	// a URL parser there reads the rest as a fragment and judges
	// /public/page.html.
	{"/public/page.html#/../../admin/secret.html", false},
	// Trailing dots and slashes.
	{"/admin/.", false},
	{"/admin/", false},
	{"/admin.", false},
	{"/admin/secret.html.", false},
	{"/admin/secret.html/", false},
}

// matrixStack is one proxy in front of one backend; every stack of a proxy
// kind shares one gate.
type matrixStack struct {
	stack
	backend backend
	proc    *proc
}

// matrix is one proxy kind's stacks, their gate and the users' sessions.
type matrix struct {
	kind    string
	gate    int // gate's port
	stacks  []*matrixStack
	cookies map[string]string // user label → Cookie header value; none for anonymous
	metrics *http.Client
}

// startMatrix starts gate and one proxy per backend, and signs the users in
// through the first stack's portal: the cookie's domain covers every stack.
func startMatrix(t *testing.T, kind proxyKind, bin string, backends []backend) *matrix {
	t.Helper()
	m := &matrix{kind: kind.name, cookies: map[string]string{}, metrics: &http.Client{Timeout: 5 * time.Second}}
	for _, b := range backends {
		s := &matrixStack{backend: b}
		s.kind, s.ports = kind, ports{proxy: testkit.FreePort(t), app: b.port}
		m.stacks = append(m.stacks, s)
	}
	m.gate = startMatrixGate(t, m.stacks[0].ports.proxy)
	for _, s := range m.stacks {
		s.ports.gate = m.gate
		s.proc = kind.start(t, bin, t.TempDir(), s.ports)
	}
	for _, s := range m.stacks {
		s.waitServed(t)
	}
	for _, u := range matrixUsers {
		if u.name != "" {
			m.cookies[u.label] = login(t, &m.stacks[0].stack, u)
		}
	}
	return m
}

// startMatrixGate runs gate with matrixConfig and the matrix's users, its
// portal at portalPort, and returns gate's port.
func startMatrixGate(t *testing.T, portalPort int) int {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yml")
	var b strings.Builder
	b.WriteString("users:\n")
	for _, u := range matrixUsers {
		if u.name != "" {
			fmt.Fprintf(&b, "  %s:\n    displayname: '%s'\n    password: '%s'\n    email: %s@example.com\n    groups: [%s]\n",
				u.name, u.name, cheapHash(u.password), u.name, u.groups)
		}
	}
	writeFile(t, users, b.String())
	key := pathCriterion(t, dir, users)
	_, port := runGate(t, dir, func(port int) string {
		return fmt.Sprintf(matrixConfig, port, portalPort, users, key)
	})
	return port
}

// pathCriterion returns "paths", the criterion that judges the path alone,
// or "resources" (path and query) where this gate does not know "paths" yet.
// With "resources", a query can take a request out of a rule that ends in
// $: /admin?x=1 is not '^/admin([/].*)?$'.
func pathCriterion(t *testing.T, dir, users string) string {
	t.Helper()
	cfg := filepath.Join(dir, "probe.yml")
	writeFile(t, cfg, fmt.Sprintf(matrixConfig, 1, 1, users, "paths"))
	cmd := exec.Command(gateBin, "validate-config", "--config", cfg)
	cmd.Env = []string{"GATE_SESSION_SECRET=" + strings.Repeat("probe-secret-", 4)}
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
		return "paths"
	case strings.Contains(string(out), "paths: unknown key"):
		t.Logf("gate does not know the paths criterion: the rule set uses resources")
		return "resources"
	default:
		t.Fatalf("validate-config on the matrix configuration: %v\n%s", err, out)
		return ""
	}
}

// waitServed waits until the proxy routes an anonymous public request to
// the backend.
func (s *matrixStack) waitServed(t *testing.T) {
	t.Helper()
	s.proc.waitFor(t, 20*time.Second, "route to "+s.backend.name, func(ctx context.Context) bool {
		a, err := rawGet(ctx, s.ports.proxy, publicPage, "")
		return err == nil && a.status == http.StatusOK && a.header.Get(backendHeader) != ""
	})
}

// login signs u in through the stack's portal and returns the Cookie header
// value that carries the session.
func login(t *testing.T, s *stack, u matrixUser) string {
	t.Helper()
	c := tryLogin(t, s, u)
	if c == "" {
		t.Fatalf("login %s failed", u.name)
	}
	return c
}

// tryLogin is login that returns "" when the login is refused.
func tryLogin(t *testing.T, s *stack, u matrixUser) string {
	t.Helper()
	c := client(t, s.ports.proxy)
	form := url.Values{"username": {u.name}, "password": {u.password}, "rd": {s.appURL(publicPage)}}
	resp := s.do(t, c, http.MethodPost, s.portalURL("/api/login"), strings.NewReader(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Origin":       {s.portalOrigin()},
	})
	if resp.StatusCode != http.StatusFound {
		t.Logf("login %s: status = %d; want 302", u.name, resp.StatusCode)
		return ""
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "gate_session" && ck.Value != "" {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Logf("login %s: no gate_session cookie", u.name)
	return ""
}

// cell is what happened to one request: proxy × backend × target × user.
type cell struct {
	proxy, backend, target string
	user                   matrixUser
	// status is the answer's status, 0 when none came.
	status int
	err    error
	// decision is gate's decision counter that moved ("" when gate was not
	// asked): allow, login, deny, bad_request, ...
	decision string
	// marked: the backend's application wrote the answer; received is the
	// request target it got.
	marked   bool
	received string
	// resource is what a backend's 200 says it served.
	resource string
}

// run sends every target as every user through every stack, one request at
// a time: gate's decision counters, read before and after each, tell
// whether gate was asked and what it decided.
func (m *matrix) run(t *testing.T, targets []pathTarget) []cell {
	t.Helper()
	ctx := t.Context()
	var cells []cell
	for _, s := range m.stacks {
		for _, v := range targets {
			for _, u := range matrixUsers {
				c := cell{proxy: m.kind, backend: s.backend.name, user: u, target: v.target}
				before := m.decisions(t, ctx)
				a, err := rawGet(ctx, s.ports.proxy, v.target, m.cookies[u.label])
				c.decision = movedCounters(before, m.decisions(t, ctx))
				c.status, c.err = a.status, err
				c.marked = a.header.Get(backendHeader) != ""
				c.received = a.header.Get(receivedHeader)
				if c.marked && a.status == http.StatusOK {
					c.resource = servedResource(a.body)
				}
				cells = append(cells, c)
			}
		}
	}
	return cells
}

// decisions reads gate's decision counters by result.
func (m *matrix) decisions(t *testing.T, ctx context.Context) map[string]float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(m.gate)+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := m.metrics.Do(req)
	if err != nil {
		t.Fatalf("gate's metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gate's metrics: status = %d; want 200", resp.StatusCode)
	}
	counts, err := decisionCounts(resp.Body)
	if err != nil {
		t.Fatalf("gate's metrics: %v", err)
	}
	return counts
}

// decisionCounts reads gate_authz_decisions_total by result from the
// Prometheus text format.
func decisionCounts(r io.Reader) (map[string]float64, error) {
	const prefix = `gate_authz_decisions_total{result="`
	counts := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		result, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			return nil, fmt.Errorf("unexpected line %q", sc.Text())
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		counts[result] = n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(counts) == 0 {
		return nil, errors.New("no gate_authz_decisions_total")
	}
	return counts, nil
}

// movedCounters names the results whose counters grew, joined by '+'.
func movedCounters(before, after map[string]float64) string {
	var moved []string
	for result, n := range after {
		if n > before[result] {
			moved = append(moved, result)
		}
	}
	slices.Sort(moved)
	return strings.Join(moved, "+")
}

// servedResource reads the resource a backend's 200 names.
func servedResource(body string) string {
	line, _, _ := strings.Cut(body, "\n")
	resource, _ := strings.CutPrefix(line, resourcePrefix)
	if resource == line {
		return ""
	}
	return resource
}

// rawAnswer is an answer to rawGet.
type rawAnswer struct {
	status int
	header http.Header
	body   string
}

// rawGet sends GET target to the proxy exactly as written, as a browser
// would for app.example.com, with cookie (a Cookie header value) when not
// empty. Go's client would clean or re-encode such a target.
func rawGet(ctx context.Context, port int, target, cookie string) (rawAnswer, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return rawAnswer{}, fmt.Errorf("dial the proxy: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return rawAnswer{}, fmt.Errorf("set deadline: %w", err)
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: app.example.com:%d\r\nAccept: text/html\r\n", target, port)
	if cookie != "" {
		fmt.Fprintf(&req, "Cookie: %s\r\n", cookie)
	}
	req.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return rawAnswer{}, fmt.Errorf("send: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawAnswer{}, fmt.Errorf("read the answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return rawAnswer{}, fmt.Errorf("read the body: %w", err)
	}
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: string(body)}, nil
}

// code is the cell's one-character summary in the table; see matrixLegend.
func (c cell) code() byte {
	switch {
	case c.marked && c.status == http.StatusOK && c.resource == "":
		return '?'
	case c.marked && c.status == http.StatusOK && c.user.may(c.resource):
		return '+'
	case c.marked && c.status == http.StatusOK:
		return 'X'
	case !c.marked && c.status == http.StatusOK:
		return '?'
	}
	switch c.decision {
	case "":
		return 'P'
	case "login":
		return 'L'
	case "deny":
		return 'D'
	case "bad_request":
		return 'B'
	case "allow":
		if c.marked {
			return byte('0' + c.status/100)
		}
		return 'r'
	}
	return 'E'
}

// failed reports whether the cell breaks the rule: something was served
// that the user may not get, or a 200 that does not say what it served.
func (c cell) failed() bool {
	code := c.code()
	return code == 'X' || code == '?'
}

func (c cell) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s → %s, %s: GET %s → ", c.proxy, c.backend, c.user.label, c.target)
	switch {
	case c.err != nil:
		fmt.Fprintf(&b, "no answer (%v)", c.err)
	case c.resource != "":
		fmt.Fprintf(&b, "%d %s%s", c.status, resourcePrefix, c.resource)
	default:
		fmt.Fprintf(&b, "%d", c.status)
	}
	if c.marked {
		fmt.Fprintf(&b, " from the backend, which got %s", c.received)
	}
	decision := c.decision
	if decision == "" {
		decision = "not asked"
	}
	fmt.Fprintf(&b, " (gate: %s)", decision)
	return b.String()
}

// checkServed fails for every cell that served a resource the rule set
// does not give its user.
func checkServed(t *testing.T, cells []cell) {
	t.Helper()
	var bad []string
	for _, c := range cells {
		if c.failed() {
			bad = append(bad, c.String())
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d requests got a resource the rule set does not give their user:\n  %s",
			len(bad), len(cells), strings.Join(bad, "\n  "))
	}
}

// checkLive keeps the matrix from passing by refusing everything: through
// every stack the plain public page is served to anonymous and the admin
// file to the admin, and gate itself refuses the admin file to the others.
func checkLive(t *testing.T, cells []cell) {
	t.Helper()
	want := []struct {
		user, target string
		served       string // the resource; "" when it must be refused
		decision     string
	}{
		{"anonymous", publicPage, publicPage, "allow"},
		{"admin", adminSecret, adminSecret, "allow"},
		{"anonymous", adminSecret, "", "login"},
		{"dev", adminSecret, "", "deny"},
	}
	for _, b := range distinct(cells, func(c cell) string { return c.backend }) {
		for _, w := range want {
			i := slices.IndexFunc(cells, func(c cell) bool { return c.backend == b && c.user.label == w.user && c.target == w.target })
			if i < 0 {
				t.Errorf("%s: %s %s was not sent", b, w.user, w.target)
				continue
			}
			c := cells[i]
			served := c.status == http.StatusOK && c.marked && c.resource == w.served
			if w.served == "" {
				served = !c.marked && c.status != http.StatusOK
			}
			if !served || c.decision != w.decision {
				t.Errorf("liveness: %v; want %s with gate deciding %s", c, orRefused(w.served), w.decision)
			}
		}
	}
}

func orRefused(resource string) string {
	if resource == "" {
		return "a refusal"
	}
	return "200 " + resourcePrefix + resource
}

// distinct returns key's values over cells, in order of first appearance.
func distinct(cells []cell, key func(cell) string) []string {
	var out []string
	for _, c := range cells {
		if k := key(c); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// matrixRecord collects the cells of every proxy kind.
type matrixRecord struct {
	mu    sync.Mutex
	cells map[string][]cell // by proxy kind
}

func (r *matrixRecord) add(kind string, cells []cell) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cells == nil {
		r.cells = map[string][]cell{}
	}
	r.cells[kind] = cells
}

const matrixLegend = `Each cell is three characters: anonymous, dev, admin.
  +  served a resource the rule set gives the user     X  served one it does not (a hole)
  L  gate: log in first (302/401 to the portal)        D  gate: denied (403)
  B  gate: bad request (400; a proxy may show 5xx)     E  gate: another decision (error, untrusted peer)
  P  the proxy refused without asking gate (its own 4xx, or no answer)
  3 4 5  gate allowed; the backend answered 3xx/4xx/5xx
  r  gate allowed; refused without the backend's mark (the proxy, or the backend's HTTP parser)
  ?  a 200 that names no resource     .  not run`

// table lays the cells out: a row per target, per proxy kind a column per
// backend.
func (r *matrixRecord) table(backends []backend, targets []pathTarget) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	width := len("target")
	for _, v := range targets {
		width = max(width, len(v.target))
	}
	var b strings.Builder
	b.WriteString(matrixLegend + "\n\n")
	fmt.Fprintf(&b, "%-*s", width, "")
	group := len(backends) * 4
	for _, k := range proxyKinds {
		fmt.Fprintf(&b, " | %-*s", group-1, k.name)
	}
	fmt.Fprintf(&b, "\n%-*s", width, "target")
	for range proxyKinds {
		b.WriteString(" |")
		for _, be := range backends {
			fmt.Fprintf(&b, " %-3s", be.col)
		}
	}
	b.WriteString("\n")
	for _, v := range targets {
		fmt.Fprintf(&b, "%-*s", width, v.target)
		for _, k := range proxyKinds {
			b.WriteString(" |")
			for _, be := range backends {
				b.WriteString(" ")
				for _, u := range matrixUsers {
					b.WriteByte(r.code(k.name, be.name, v.target, u.label))
				}
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (r *matrixRecord) code(kind, backend, target, user string) byte {
	for _, c := range r.cells[kind] {
		if c.backend == backend && c.target == target && c.user.label == user {
			return c.code()
		}
	}
	return '.'
}
