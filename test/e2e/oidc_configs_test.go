package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gate/internal/testkit"
	"gate/internal/testkit/oidctest"
)

// TestOIDCShippedConfigs runs gate on the shipped provider examples,
// rendered with the test's addresses and a real provider where Keycloak's
// and Google's would be, behind the shipped nginx configuration, with
// headless Chromium: what each example's comments promise happens.
func TestOIDCShippedConfigs(t *testing.T) {
	chromium := testkit.Need(t, "chromium", "Debian: apt-get install chromium", "chromium", "chromium-browser")
	nginx := testkit.Need(t, "nginx", proxyKinds[0].how, "nginx")

	t.Run("keycloak", func(t *testing.T) {
		o := startShippedOIDC(t, nginx, shippedOIDC{
			path: "configs/oidc-keycloak.yml", id: "keycloak", name: "Corporate SSO",
			issuer: "'https://sso.example.com/realms/corp'", clientID: "gate",
		})
		o.keycloakWalk(t, newBrowser(t, chromium, "MAP *.example.com 127.0.0.1"))
	})

	t.Run("google", func(t *testing.T) {
		o := startShippedOIDC(t, nginx, shippedOIDC{
			path: "configs/oidc-google.yml", id: "google", name: "Google",
			issuer: "'https://accounts.google.com'", clientID: "1234567890-abcdefg.apps.googleusercontent.com",
			more: func(dir string) []string { return []string{"'configs/users.yml'", "'" + writeUsers(t, dir) + "'"} },
		})
		o.googleWalk(t, newBrowser(t, chromium, "MAP *.example.com 127.0.0.1"))
	})
}

// shippedOIDC is an example configuration with one provider, and what the
// test renders in it.
type shippedOIDC struct {
	path     string
	id, name string
	// issuer is the issuer as the file quotes it; the provider's replaces it.
	issuer string
	// clientID is the file's client_id, which the provider registers.
	clientID string
	// more returns further substitutions (old, new, ...) for files in dir.
	more func(dir string) []string
}

// startShippedOIDC starts a provider, then gate on the example rendered
// with its issuer, the client secret in the file the example's comment
// names, and the nginx configuration in front of gate and the echo app.
func startShippedOIDC(t *testing.T, nginx string, c shippedOIDC) *idpStack {
	t.Helper()
	s := &stack{kind: proxyKinds[0], echo: startEcho(t)}
	s.ports.proxy = testkit.FreePort(t)
	s.ports.app = s.echo.port
	proxy := ":" + strconv.Itoa(s.ports.proxy)
	idp := oidctest.Start(t, oidctest.Config{
		ClientID:     c.clientID,
		RedirectURIs: []string{fmt.Sprintf("http://auth.example.com%s/api/oidc/%s/callback", proxy, c.id)},
	})

	dir := t.TempDir()
	secret := filepath.Join(dir, "client_secret")
	writeFile(t, secret, idp.ClientSecret+"\n")
	subs := []string{
		"'https://auth.example.com'", "'http://auth.example.com" + proxy + "'",
		"'https://app.example.com/'", "'http://app.example.com" + proxy + "/'",
		c.issuer, "'" + idp.Issuer + "'",
	}
	if c.more != nil {
		subs = append(subs, c.more(dir)...)
	}
	s.gate, s.ports.gate = runGate(t, dir, func(port int) string {
		return render(t, c.path, append(subs, "tcp://127.0.0.1:9091", "tcp://127.0.0.1:"+strconv.Itoa(port))...)
	}, "GATE_AUTHENTICATION_BACKEND_OIDC_0_CLIENT_SECRET_FILE="+secret)

	p := s.kind.start(t, nginx, t.TempDir(), s.ports)
	hc := client(t, s.ports.proxy)
	p.waitFor(t, 15*time.Second, "route to the portal", func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.portalURL("/"), nil)
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	waitDiscovered(t, s.gate)
	return &idpStack{stack: s, idp: idp, id: c.id, name: c.name}
}

// keycloakWalk: the portal offers only the realm; a realm user in staff
// signs in with the realm's groups and stays out of the admin area; one in
// neither staff nor admins is refused; one in admins reaches the admin
// area; a logout token naming the admin's provider session (sid) ends only
// that user's gate session.
func (o *idpStack) keycloakWalk(t *testing.T, b *browser) {
	target := o.appURL("/reports?q=1")
	portal := o.portalURL("/?rd=")
	o.idp.AddUser(carol)
	o.idp.AddUser(oidctest.User{Subject: "kc-dave", Username: "dave", Email: "dave@contractor.example", EmailVerified: true,
		Claims: map[string]any{"groups": []string{"contractors"}}})
	o.idp.AddUser(oidctest.User{Subject: "kc-erika", Username: "erika", Email: "erika@example.com", EmailVerified: true,
		Claims: map[string]any{"groups": []string{"admins"}, "sid": "kc-session-erika"}})

	o.idp.SignInAs(carolSubject)
	o.signIn(b, target, portal)
	if n := b.count("#username, #password"); n != 0 {
		b.failf("the portal without a users file had %d password form fields; want none", n)
	}
	if got, want := b.echo().Header.Get("Remote-Groups"), carolGroups; got != want {
		b.failf("app saw Remote-Groups %q; want the realm's %q", got, want)
	}
	o.wantAdminArea(b, false)

	o.idp.SignInAs("kc-dave")
	dave := b.fresh(t)
	o.wantRefusal(t, "allow.groups", func() {
		dave.do("dave, in neither staff nor admins, picks the provider",
			chromedp.Navigate(target),
			chromedp.WaitVisible(chromedp.ID(o.button())),
			chromedp.Click(chromedp.ID(o.button())),
			chromedp.WaitVisible(chromedp.CSS("p.error")),
		)
	})
	dave.wantGenericError()

	o.idp.SignInAs("kc-erika")
	erika := b.fresh(t)
	o.signIn(erika, target, portal)
	erika.wantIdentity("erika")
	o.wantAdminArea(erika, true)

	o.backchannelLogout(t, o.idp.LogoutToken("", "kc-session-erika"))
	o.wantPortal(erika, "erika's provider session ended: the app asks her to sign in", target, portal)
	b.do("carol's session is another one: the app still serves her",
		chromedp.Navigate(target), chromedp.WaitVisible(chromedp.CSS("pre")))
	b.wantIdentity(carolName)
}

// googleWalk: the portal offers passwords and the provider; a verified
// address of the domain signs in, named by its email, with no groups; one
// whose email is alice's in the users file signs in as that entry, with
// its groups and so its admin area; a gmail.com account is refused.
func (o *idpStack) googleWalk(t *testing.T, b *browser) {
	target := o.appURL("/")
	portal := o.portalURL("/?rd=")
	o.idp.AddUser(oidctest.User{Subject: "1049", Email: "erin@example.com", EmailVerified: true, Name: "Erin"})
	o.idp.AddUser(oidctest.User{Subject: "3001", Email: aliceEmail, EmailVerified: true, Name: "Alice G."})
	o.idp.AddUser(oidctest.User{Subject: "2077", Email: "frank@gmail.com", EmailVerified: true, Name: "Frank"})

	o.idp.SignInAs("1049")
	o.signIn(b, target, portal)
	if n := b.count("#username, #password"); n != 0 {
		b.failf("signed in, the app's page has %d password fields", n)
	}
	e := b.echo()
	for _, h := range []struct{ name, want string }{
		{"Remote-User", "erin@example.com"},
		{"Remote-Email", "erin@example.com"},
		{"Remote-Name", "Erin"},
		{"Remote-Groups", ""},
	} {
		if got := e.Header.Get(h.name); got != h.want {
			b.failf("app saw %s %q; want %q", h.name, got, h.want)
		}
	}
	o.wantAdminArea(b, false)

	o.idp.SignInAs("3001")
	alice := b.fresh(t)
	o.wantPortal(alice, "alice opens the app: the portal offers her password and the provider", target, portal)
	if n := alice.count("#username, #password"); n != 2 {
		alice.failf("the portal beside a users file has %d password form fields; want 2", n)
	}
	o.signIn(alice, target, portal)
	e = alice.echo()
	if got := e.Header.Get("Remote-User"); got != aliceName {
		alice.failf("linked by email, app saw Remote-User %q; want the users file's %q", got, aliceName)
	}
	if got := e.Header.Get("Remote-Groups"); got != aliceGroups {
		alice.failf("linked by email, app saw Remote-Groups %q; want the users file's %q", got, aliceGroups)
	}
	o.wantAdminArea(alice, true)

	o.idp.SignInAs("2077")
	frank := b.fresh(t)
	o.wantRefusal(t, "allow.email_domains", func() {
		frank.do("frank, a gmail.com account, picks the provider",
			chromedp.Navigate(target),
			chromedp.WaitVisible(chromedp.ID(o.button())),
			chromedp.Click(chromedp.ID(o.button())),
			chromedp.WaitVisible(chromedp.CSS("p.error")),
		)
	})
	frank.wantGenericError()
}

// wantAdminArea opens the app's admin area in b, signed in: the app must
// serve it when admin, and the proxy must answer 403 otherwise.
func (o *idpStack) wantAdminArea(b *browser, admin bool) {
	b.t.Helper()
	u := o.appURL("/admin/users")
	b.do("open the admin area", chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("body")))
	if got := b.location(); got != u {
		b.failf("the admin area led to %s; want it to answer at %s", got, u)
	}
	text := b.text("read the page", chromedp.CSS("body"))
	switch served := strings.Contains(text, `"uri": "/admin/users"`); {
	case admin && !served:
		b.failf("the app did not serve the admin area to an admin:\n%s", text)
	case !admin && (served || !strings.Contains(text, "forbidden")):
		b.failf("the admin area to a user outside admins says %q; want the proxy's forbidden", text)
	}
}

// count is the number of elements sel selects on the page.
func (b *browser) count(sel string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		b.failf("count %s: %v", sel, err)
	}
	return n
}

// TestOIDCTwoDomains runs configs/two-domains with a provider added, behind
// the two-domain nginx configuration, with Chromium: each cookie domain's
// portal is its own redirect URI, so a sign-in begun on example.org's portal
// completes there and gives example.org's cookie only; example.com's app
// still asks, and its own portal signs in the same way; the provider's
// back-channel logout ends both sessions.
func TestOIDCTwoDomains(t *testing.T) {
	chromium := testkit.Need(t, "chromium", "Debian: apt-get install chromium", "chromium", "chromium-browser")
	nginx := testkit.Need(t, "nginx", proxyKinds[0].how, "nginx")
	idp := oidctest.Start(t, oidctest.Config{})
	idp.AddUser(carol)
	idp.SignInAs(carolSubject)
	o := &idpStack{idp: idp, id: oidcID, name: oidcName}
	d := startTwoDomainStackWith(t, proxyKinds[0], nginx, o.backendYAML())
	waitDiscovered(t, d.gate)
	o.stack = &stack{kind: proxyKinds[0], ports: d.ports, echo: d.echo}
	comCallback, orgCallback := d.url("auth", "com", o.path("callback")), d.url("auth", "org", o.path("callback"))
	idp.SetRedirectURIs(comCallback, orgCallback)

	b := newBrowser(t, chromium, "MAP *.example.com 127.0.0.1, MAP *.example.org 127.0.0.1")
	comCallbacks, orgCallbacks := b.recordRequests(comCallback+"?"), b.recordRequests(orgCallback+"?")
	comApp, orgApp := d.url("app", "com", "/com?x=1"), d.url("app", "org", "/org?y=2")
	comPortal, orgPortal := d.url("auth", "com", "/?rd="), d.url("auth", "org", "/?rd=")

	o.signIn(b, orgApp, orgPortal)
	b.wantIdentity(carolName)
	if got := [2]int{comCallbacks.len(), orgCallbacks.len()}; got != [2]int{0, 1} {
		b.failf("callbacks on example.com's and example.org's portals: %v; want [0 1]", got)
	}
	if got := b.cookies(comApp, d.url("auth", "com", "/")); len(got) != 0 {
		b.failf("after signing in on example.org only, the browser sends example.com %d cookie(s): %s=... for %s", len(got), got[0].Name, got[0].Domain)
	}

	o.signIn(b, comApp, comPortal)
	b.wantIdentity(carolName)
	if got := [2]int{comCallbacks.len(), orgCallbacks.len()}; got != [2]int{1, 1} {
		b.failf("callbacks on example.com's and example.org's portals: %v; want [1 1]", got)
	}

	o.backchannelLogout(t, idp.LogoutToken(carolSubject, ""))
	o.wantPortal(b, "after the back-channel logout example.org's app asks to sign in", orgApp, orgPortal)
	o.wantPortal(b, "and example.com's too", comApp, comPortal)
}
