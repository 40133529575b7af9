package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"gate/internal/testkit"
)

// twoDomainProxies start the shipped two-domain proxy configurations
// (configs/two-domains), rendered with a stack's ports.
var twoDomainProxies = map[string]startFunc{
	"nginx":   nginxAt("configs/two-domains"),
	"caddy":   caddyAt("configs/two-domains"),
	"haproxy": haproxyAt("configs/two-domains"),
	"traefik": traefikAt("configs/two-domains"),
}

// TestTwoDomainsBrowser runs configs/two-domains (gate and each proxy)
// with headless Chromium: sign in on example.com's portal and reach the app
// there; the app on example.org sends the browser to example.org's portal
// (example.com's cookie does not count there); sign in there too; sign out
// on every device from example.org's portal; both apps ask to sign in again.
func TestTwoDomainsBrowser(t *testing.T) {
	chromium := testkit.Need(t, "chromium", "Debian: apt-get install chromium", "chromium", "chromium-browser")
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			s := startTwoDomainStack(t, kind, bin)
			b := newBrowser(t, chromium, "MAP *.example.com 127.0.0.1, MAP *.example.org 127.0.0.1")
			s.walk(b)
		})
	}
}

// twoDomainStack is gate on configs/two-domains/gate.yml, the echo app and
// one proxy in front of both domains.
type twoDomainStack struct {
	ports ports
	echo  *echoServer
	gate  *proc
}

func startTwoDomainStack(t *testing.T, kind proxyKind, bin string) *twoDomainStack {
	t.Helper()
	return startTwoDomainStackWith(t, kind, bin, "")
}

// startTwoDomainStackWith is startTwoDomainStack with backends, YAML for
// authentication_backend (indented by two spaces), after the users file.
func startTwoDomainStackWith(t *testing.T, kind proxyKind, bin, backends string) *twoDomainStack {
	t.Helper()
	s := &twoDomainStack{echo: startEcho(t)}
	s.ports.proxy = testkit.FreePort(t)
	s.ports.app = s.echo.port
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yml")
	writeFile(t, users, fmt.Sprintf("users:\n  %s:\n    displayname: '%s'\n    password: '%s'\n    email: %s\n    groups: [admins, dev]\n",
		aliceName, aliceDisp, cheapHash(alicePass), aliceEmail))
	s.gate, s.ports.gate = runGate(t, dir, func(port int) string {
		proxy := ":" + strconv.Itoa(s.ports.proxy)
		return render(t, "configs/two-domains/gate.yml",
			"tcp://127.0.0.1:9091", "tcp://127.0.0.1:"+strconv.Itoa(port),
			"'configs/users.yml'", "'"+users+"'",
			"'http://auth.example.com'", "'http://auth.example.com"+proxy+"'",
			"'http://auth.example.org'", "'http://auth.example.org"+proxy+"'",
			"'http://app.example.com/'", "'http://app.example.com"+proxy+"/'",
			"'http://app.example.org/'", "'http://app.example.org"+proxy+"/'",
			"    watch: true\n", "    watch: true\n"+backends,
		)
	})
	p := twoDomainProxies[kind.name](t, bin, t.TempDir(), s.ports)
	c := client(t, s.ports.proxy)
	p.waitFor(t, 15*time.Second, "route to both portals", func(ctx context.Context) bool {
		for _, u := range []string{s.url("auth", "com", "/"), s.url("auth", "org", "/")} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			resp, err := c.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false
			}
		}
		return true
	})
	return s
}

// url is a URL on host.example.tld as a browser uses it.
func (s *twoDomainStack) url(host, tld, pathQuery string) string {
	return fmt.Sprintf("http://%s.example.%s:%d%s", host, tld, s.ports.proxy, pathQuery)
}

func (s *twoDomainStack) walk(b *browser) {
	comApp, orgApp := s.url("app", "com", "/com?x=1"), s.url("app", "org", "/org?y=2")

	b.signIn("example.com", comApp, s.url("auth", "com", "/?rd="))
	b.wantIdentity(aliceName)

	b.do("open example.org's app: its own portal asks to sign in",
		chromedp.Navigate(orgApp),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if got, want := b.location(), s.url("auth", "org", "/?rd="); !strings.HasPrefix(got, want) {
		b.failf("example.org's app sent the browser to %s; want %s...", got, want)
	}
	if got := b.cookies(orgApp, s.url("auth", "org", "/")); len(got) != 0 {
		b.failf("after signing in on example.com only, the browser sends example.org %d cookie(s): %s=... for %s", len(got), got[0].Name, got[0].Domain)
	}

	b.signIn("example.org", orgApp, s.url("auth", "org", "/?rd="))
	b.wantIdentity(aliceName)

	b.do("sign out on every device from example.org's portal",
		chromedp.Navigate(s.url("auth", "org", "/")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/api/logout?all=true"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/api/logout?all=true"] button`)),
		chromedp.WaitVisible(chromedp.CSS("p.notice")),
	)
	for _, app := range []struct{ url, portal string }{
		{comApp, s.url("auth", "com", "/?rd=")},
		{orgApp, s.url("auth", "org", "/?rd=")},
	} {
		b.do("the app asks to sign in again: "+app.url,
			chromedp.Navigate(app.url),
			chromedp.WaitVisible(chromedp.ID("username")),
		)
		if got := b.location(); !strings.HasPrefix(got, app.portal) {
			b.failf("after signing out everywhere %s led to %s; want %s...", app.url, got, app.portal)
		}
	}
}

// newBrowser starts headless Chromium, resolving hosts by rules, with a
// profile of its own; it ends with the test.
func newBrowser(t *testing.T, chromium, rules string) *browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("host-resolver-rules", rules),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
		chromedp.WindowSize(1000, 800),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { cmd.SysProcAttr = sysProcAttr() }),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return &browser{t: t, ctx: tab, shots: os.Getenv("GATE_TEST_SCREENSHOTS")}
}

// signIn opens app, which must lead to the portal starting with portal,
// signs in as alice and waits to be back on app.
func (b *browser) signIn(domain, app, portal string) {
	b.t.Helper()
	b.do("open "+domain+"'s app: the portal asks to sign in",
		chromedp.Navigate(app),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if got := b.location(); !strings.HasPrefix(got, portal) {
		b.failf("%s led to %s; want %s...", app, got, portal)
	}
	b.do("sign in on "+domain,
		chromedp.SendKeys(chromedp.ID("username"), aliceName),
		chromedp.SendKeys(chromedp.ID("password"), alicePass),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	b.waitLocation(app)
}

// wantIdentity checks the user the app's echo page says it saw.
func (b *browser) wantIdentity(user string) {
	b.t.Helper()
	if got := b.echo().Header.Get("Remote-User"); got != user {
		b.failf("app saw Remote-User %q; want %q", got, user)
	}
}

// echo is what the app's echo page says it saw.
func (b *browser) echo() echoed {
	b.t.Helper()
	text := b.text("read what the app saw", chromedp.CSS("pre"))
	var e echoed
	if err := json.Unmarshal([]byte(text), &e); err != nil {
		b.failf("the app's page is not its echo: %v\n%s", err, text)
	}
	return e
}

// cookies are the cookies the browser would send to urls.
func (b *browser) cookies(urls ...string) []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: urls})
	})
	if err != nil {
		b.failf("read the cookies: %v", err)
	}
	return res.Cookies
}
