package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gate/internal/testkit"
)

// TestBrowserLogin signs in and out with headless Chromium through nginx:
// the protected URL leads to the portal, the form's POST lands back on the
// app (Chromium checks the portal's CSP form-action on that redirect), and
// after signing out the app asks for a login again.
//
// On failure a screenshot of the page is saved into a kept temporary folder
// whose path is logged; GATE_TEST_SCREENSHOTS=DIR saves one after every step.
func TestBrowserLogin(t *testing.T) {
	chromium := testkit.Need(t, "chromium", "Debian: apt-get install chromium", "chromium", "chromium-browser")
	nginx := testkit.Need(t, "nginx", proxyKinds[0].how, "nginx")
	s := startStack(t, proxyKinds[0], nginx)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// The example names, on whatever port nginx listens on, are this machine.
		chromedp.Flag("host-resolver-rules", "MAP *.example.com 127.0.0.1"),
		// Keep plain http:// as typed: no attempt at https first.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
		chromedp.WindowSize(1000, 800),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) { cmd.SysProcAttr = sysProcAttr() }),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	// Start the browser on the tab's own context: one started on a step's
	// timeout context would end with that step.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}

	b := &browser{t: t, ctx: tab, shots: os.Getenv("GATE_TEST_SCREENSHOTS")}
	target := s.appURL("/dashboard?tab=a%20b&x=1")

	b.do("open the protected URL: the portal asks to sign in",
		chromedp.Navigate(target),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if got, want := b.location(), s.portalURL("/?rd="); !strings.HasPrefix(got, want) {
		b.failf("landed on %s; want the portal %s...", got, want)
	}

	b.do("sign in",
		chromedp.SendKeys(chromedp.ID("username"), aliceName),
		chromedp.SendKeys(chromedp.ID("password"), alicePass),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	b.waitLocation(target)
	text := b.text("read what the app saw", chromedp.CSS("pre"))
	var e echoed
	if err := json.Unmarshal([]byte(text), &e); err != nil {
		b.failf("the app's page is not its echo: %v\n%s", err, text)
	}
	if got := e.Header.Get("Remote-User"); got != aliceName {
		b.failf("app saw Remote-User %q; want %q", got, aliceName)
	}
	if got := e.Header.Get("Remote-Groups"); got != aliceGroups {
		b.failf("app saw Remote-Groups %q; want %q", got, aliceGroups)
	}

	b.do("the portal shows who is signed in",
		chromedp.Navigate(s.portalURL("/")),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/api/logout"] button`)),
	)
	b.do("sign out",
		chromedp.Click(chromedp.CSS(`form[action="/api/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS("p.notice")),
	)
	if text := b.text("read the notice", chromedp.CSS("p.notice")); !strings.Contains(text, "signed out") {
		b.failf("after signing out the portal says %q", text)
	}

	b.do("the app asks to sign in again",
		chromedp.Navigate(target),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if got, want := b.location(), s.portalURL("/?rd="); !strings.HasPrefix(got, want) {
		b.failf("after signing out landed on %s; want the portal", got)
	}
}

// browser runs steps in one tab, with a screenshot when one fails.
type browser struct {
	t     *testing.T
	ctx   context.Context
	n     int
	shots string
}

// do runs actions as one named step.
func (b *browser) do(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.n++
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.failf("step %d, %s: %v", b.n, name, err)
	}
	if b.shots != "" {
		b.screenshot(b.shots, fmt.Sprintf("%02d-%s.png", b.n, strings.ReplaceAll(name, " ", "-")))
	}
}

// text returns the text of the element sel selects.
func (b *browser) text(name string, sel chromedp.CSS) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		b.failf("%s: %v", name, err)
	}
	return s
}

func (b *browser) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.failf("read the location: %v", err)
	}
	return u
}

// waitLocation waits until the tab shows want, as after a redirect.
func (b *browser) waitLocation(want string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		u, err := chromedp.Run(ctx, chromedp.Location())
		cancel()
		if err == nil {
			got = u
			if u == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.failf("the tab shows %s; want %s", got, want)
}

// failf saves a screenshot of the page, then fails the test.
func (b *browser) failf(format string, args ...any) {
	b.t.Helper()
	dir, err := os.MkdirTemp("", "gate-browser-")
	if err == nil {
		b.screenshot(dir, "failure.png")
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err == nil {
			_ = os.WriteFile(filepath.Join(dir, "failure.html"), []byte(html), 0o644)
		}
		cancel()
		b.t.Logf("screenshot and page kept in %s", dir)
	}
	b.t.Fatalf(format, args...)
}

func (b *browser) screenshot(dir, name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Logf("screenshot: %v", err)
	}
}
