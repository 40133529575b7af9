package e2e_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"gate/internal/testkit"
	"gate/internal/testkit/oidctest"
)

// The provider gate's portal offers in these tests, and the user it signs
// in: a user of the provider only, not in gate's users file.
const (
	oidcID       = "corp"
	oidcName     = "Corporate SSO"
	carolSubject = "248289761001"
	carolName    = "carol"
	carolEmail   = "carol@example.com"
	// carolGroups is how the app sees carol's groups claim.
	carolGroups = "staff,dev"
)

// carol is the provider's account of her.
var carol = oidctest.User{
	Subject:       carolSubject,
	Username:      carolName,
	Email:         carolEmail,
	EmailVerified: true,
	Name:          "Carol Example",
	Claims:        map[string]any{"groups": []string{"staff", "dev"}},
}

// Why gate refuses a callback, as its log says.
const (
	usedState    = "unknown, expired or used state"
	otherBrowser = "begun in another browser"
	missingState = "missing or oversized state"
)

// idpStack is a stack whose gate offers sign-in at a real OpenID provider
// running in the test, reached by the browser and by gate on 127.0.0.1.
type idpStack struct {
	*stack
	idp *oidctest.Provider
	// id and name are the provider's in gate's configuration.
	id, name string
}

// startIDPStack starts the provider with cfg, then the stack with gate's
// authentication_backend.oidc naming it; the provider accepts gate's
// callback on the portal's address as its client's redirect URI.
func startIDPStack(t *testing.T, kind proxyKind, bin string, cfg oidctest.Config) *idpStack {
	t.Helper()
	o := &idpStack{id: oidcID, name: oidcName}
	o.stack = startStackWith(t, kind, bin, func(proxyPort int) string {
		cfg.RedirectURIs = []string{fmt.Sprintf("http://auth.example.com:%d/api/oidc/%s/callback", proxyPort, oidcID)}
		o.idp = oidctest.Start(t, cfg)
		o.idp.AddUser(carol)
		o.idp.SignInAs(carolSubject)
		return o.backendYAML()
	})
	if !cfg.Down {
		waitDiscovered(t, o.gate)
	}
	return o
}

// waitDiscovered waits until gate has read the provider's discovery
// document, which it fetches in the background: until then the provider's
// button answers 503.
func waitDiscovered(t *testing.T, gate *proc) {
	t.Helper()
	gate.waitFor(t, 10*time.Second, "discover the provider", func(context.Context) bool {
		return gate.logCount(t, "oidc provider discovered") > 0
	})
}

// path is the path of gate's endpoint for the provider.
func (o *idpStack) path(endpoint string) string { return "/api/oidc/" + o.id + "/" + endpoint }

// button is the id of the provider's button on the portal.
func (o *idpStack) button() string { return "provider-" + o.id }

// TestOIDCBrowser signs in with headless Chromium at the provider through
// each shipped proxy configuration, then ends the session the way the
// provider does (back-channel logout), meets a provider that refuses the
// user, and tries to leave the cookie domain through rd.
func TestOIDCBrowser(t *testing.T) {
	chromium := testkit.Need(t, "chromium", "Debian: apt-get install chromium", "chromium", "chromium-browser")
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			o := startIDPStack(t, kind, bin, oidctest.Config{})
			b := newBrowser(t, chromium, "MAP *.example.com 127.0.0.1")
			o.walk(t, b)
			// Which rd gate follows is gate's own check, the same behind
			// every proxy: once is enough.
			if kind.name == proxyKinds[0].name {
				o.offDomainRD(t, b)
			}
		})
	}
}

// TestOIDCProviderOutage starts gate behind nginx while the provider is
// down: gate serves and is ready, the provider's button answers 503 with a
// page that says to try again, and password logins work; once the provider
// is back, gate's discovery retries find it and the button signs in.
func TestOIDCProviderOutage(t *testing.T) {
	chromium := testkit.Need(t, "chromium", "Debian: apt-get install chromium", "chromium", "chromium-browser")
	nginx := testkit.Need(t, "nginx", proxyKinds[0].how, "nginx")
	o := startIDPStack(t, proxyKinds[0], nginx, oidctest.Config{Down: true})
	target := o.appURL("/dashboard")
	portal := o.portalURL("/?rd=")

	resp := o.do(t, client(t, o.ports.proxy), http.MethodGet, o.portalURL(o.path("start")), nil, nil)
	if got := resp.StatusCode; got != http.StatusServiceUnavailable {
		t.Fatalf("start while the provider is down: status = %d; want 503", got)
	}
	ready := doRequest(t, &http.Client{Timeout: 10 * time.Second},
		newRequest(t, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/readyz", o.ports.gate), nil, nil))
	if got := ready.StatusCode; got != http.StatusOK {
		t.Errorf("/readyz while the provider is down: status = %d; want 200", got)
	}

	b := newBrowser(t, chromium, "MAP *.example.com 127.0.0.1")
	b.do("the provider is down: its button says to try again",
		chromedp.Navigate(target),
		chromedp.WaitVisible(chromedp.ID(o.button())),
		chromedp.Click(chromedp.ID(o.button())),
		chromedp.WaitVisible(chromedp.CSS("p.error")),
	)
	if got := b.text("read the error", chromedp.CSS("p.error")); !strings.Contains(got, "try again") {
		b.failf("the portal says %q; want it to say to try again", got)
	}
	b.do("sign in with a password meanwhile",
		chromedp.Navigate(target),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), aliceName),
		chromedp.SendKeys(chromedp.ID("password"), alicePass),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	b.waitLocation(target)
	b.wantIdentity(aliceName)

	o.idp.SetDown(false)
	waitDiscovered(t, o.gate)
	fresh := b.fresh(t)
	o.signIn(fresh, target, portal)
	fresh.wantIdentity(carolName)
}

// walk signs carol in, replays the callback that did it in the same and in
// another browser, ends her sessions in both by back-channel logout and
// meets the provider's refusal, in that order: each step starts where the
// one before left the browsers.
func (o *idpStack) walk(t *testing.T, b *browser) {
	target := o.appURL("/dashboard?tab=a%20b&x=1")
	portal := o.portalURL("/?rd=")
	callbacks := b.recordRequests(o.portalURL(o.path("callback") + "?"))

	o.signIn(b, target, portal)
	e := b.echo()
	for _, h := range []struct{ name, want string }{
		{"Remote-User", carolName},
		{"Remote-Groups", carolGroups},
		{"Remote-Email", carolEmail},
	} {
		if got := e.Header.Get(h.name); got != h.want {
			b.failf("app saw %s %q; want %q from the provider's claims", h.name, got, h.want)
		}
	}

	// The callback URL that signed carol in, replayed: its state was used.
	used := callbacks.last(t)
	o.wantRefusal(t, usedState, func() { b.wantRefused("replay the callback URL", used) })
	other := b.fresh(t)
	o.wantRefusal(t, usedState, func() { other.wantRefused("replay the callback URL in another browser", used) })
	o.signIn(other, target, portal)
	other.wantIdentity(carolName)

	// The provider signs carol out: every gate session of hers ends.
	logout := o.idp.LogoutToken(carolSubject, "")
	o.backchannelLogout(t, logout)
	o.wantPortal(b, "after the provider's back-channel logout the app asks to sign in", target, portal)
	o.wantPortal(other, "the app asks the other browser to sign in too", target, portal)

	before := o.echo.hits.Load()
	o.idp.Deny(true)
	o.wantRefusal(t, "error=access_denied", func() {
		b.do("the provider refuses carol: gate's portal says so",
			chromedp.Click(chromedp.ID(o.button())),
			chromedp.WaitVisible(chromedp.CSS("p.error")),
		)
	})
	o.idp.Deny(false)
	if got := b.location(); !strings.HasPrefix(got, o.portalURL(o.path("callback")+"?")) {
		b.failf("after the provider refused, the tab shows %s; want gate's callback answering with the portal", got)
	}
	b.wantGenericError()
	if got := o.echo.hits.Load(); got != before {
		b.failf("the app saw %d requests after the provider refused; want none", got-before)
	}

	// gate's log says why it refused, never with what.
	q := mustParse(t, used).Query()
	for name, secret := range map[string]string{
		"code": q.Get("code"), "state": q.Get("state"), "logout token": logout, "client secret": o.idp.ClientSecret,
	} {
		if o.gate.logCount(t, secret) != 0 {
			t.Errorf("gate's log holds a %s", name)
		}
	}
}

// offDomainRD gives rd values a browser would follow off the cookie domain
// to start (and once to the portal, whose button carries rd on): sign-in
// lands on default_redirect_url instead.
func (o *idpStack) offDomainRD(t *testing.T, b *browser) {
	fresh := b.fresh(t)
	fresh.do("pick the provider on the portal opened with an off-domain rd",
		chromedp.Navigate(o.portalURL("/?rd="+url.QueryEscape("http://evil.example.net/"))),
		chromedp.WaitVisible(chromedp.ID(o.button())),
		chromedp.Click(chromedp.ID(o.button())),
	)
	fresh.waitLocation(o.appURL("/"))
	fresh.wantIdentity(carolName)
	for i, rd := range []string{"http://evil.example.net/", "//evil.example.net/", "http://app.example.com.evil.example.net/"} {
		fresh.do(fmt.Sprintf("start the flow with off-domain rd %d", i),
			chromedp.Navigate(o.portalURL(o.path("start")+"?rd="+url.QueryEscape(rd))))
		fresh.waitLocation(o.appURL("/"))
		fresh.do("leave the app", chromedp.Navigate(o.portalURL("/static/favicon.svg")))
	}
}

// wantRefusal runs step, during which gate must refuse exactly one
// provider sign-in and log why: reason is part of that line.
func (o *idpStack) wantRefusal(t *testing.T, reason string, step func()) {
	t.Helper()
	const refused = "oidc sign-in refused"
	before := len(o.gate.logLines(t, refused))
	step()
	// gate logs before it answers: the line is there once the answer is.
	lines := o.gate.logLines(t, refused)[before:]
	if len(lines) != 1 || !strings.Contains(lines[0], reason) {
		t.Errorf("gate logged %d refused sign-ins %q; want one saying %q", len(lines), lines, reason)
	}
}

// logLines are the lines of p's output that contain text.
func (p *proc) logLines(t *testing.T, text string) []string {
	t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, text) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// signIn opens app in b, which must lead to the portal starting with
// portal, picks the provider (which signs its SignInAs user in without
// asking) and waits to be back on app.
func (o *idpStack) signIn(b *browser, app, portal string) {
	b.t.Helper()
	b.do("open the protected URL: the portal offers the provider",
		chromedp.Navigate(app),
		chromedp.WaitVisible(chromedp.ID(o.button())),
	)
	if got := b.location(); !strings.HasPrefix(got, portal) {
		b.failf("%s led to %s; want %s...", app, got, portal)
	}
	if got, want := b.text("read the provider's button", chromedp.CSS("#"+o.button())), "Sign in with "+o.name; got != want {
		b.failf("the provider's button says %q; want %q", got, want)
	}
	b.do("sign in with the provider", chromedp.Click(chromedp.ID(o.button())))
	b.waitLocation(app)
}

// wantRefused opens u, which gate must answer with the portal and an error
// message, not a session.
func (b *browser) wantRefused(step, u string) {
	b.t.Helper()
	b.do(step, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("p.error")))
	b.wantGenericError()
}

// wantGenericError checks the portal's error says nothing of why: the
// reason is in gate's log, not on the page.
func (b *browser) wantGenericError() {
	b.t.Helper()
	text := b.text("read the error", chromedp.CSS("p.error"))
	for _, leak := range []string{"access_denied", "state", "nonce", "token", "code"} {
		if strings.Contains(strings.ToLower(text), leak) {
			b.failf("the portal's error %q names %q; want a generic message", text, leak)
		}
	}
}

// wantPortal opens app in b, which must lead to the portal's sign-in page
// starting with portal.
func (o *idpStack) wantPortal(b *browser, step, app, portal string) {
	b.t.Helper()
	b.do(step, chromedp.Navigate(app), chromedp.WaitVisible(chromedp.ID(o.button())))
	if got := b.location(); !strings.HasPrefix(got, portal) {
		b.failf("%s led to %s; want %s...", app, got, portal)
	}
}

// fresh is another browser in the same Chromium: a profile of its own,
// with no cookies of b's. It ends with t.
func (b *browser) fresh(t *testing.T) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open another browser context: %v", err)
	}
	return &browser{t: t, ctx: ctx, shots: b.shots}
}

// requestLog keeps the URLs of the requests a tab sent that start with a
// prefix, redirects included.
type requestLog struct {
	mu   sync.Mutex
	urls []string
}

// recordRequests logs every request of b's tab whose URL starts with prefix.
func (b *browser) recordRequests(prefix string) *requestLog {
	b.t.Helper()
	l := &requestLog{}
	err := chromedp.Listen(b.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok && strings.HasPrefix(ev.Request.URL, prefix) {
			l.mu.Lock()
			l.urls = append(l.urls, ev.Request.URL)
			l.mu.Unlock()
		}
	})
	if err != nil {
		b.t.Fatalf("listen to the tab's requests: %v", err)
	}
	return l
}

// len is the number of URLs logged.
func (l *requestLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.urls)
}

// last is the last URL logged.
func (l *requestLog) last(t *testing.T) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.urls) == 0 {
		t.Fatal("the browser sent no request to gate's callback")
	}
	return l.urls[len(l.urls)-1]
}

// backchannelLogout posts the provider's logout token and wants 200, not
// to be cached (Back-Channel Logout 1.0, 2.8).
func (o *idpStack) backchannelLogout(t *testing.T, token string) {
	t.Helper()
	resp := o.postLogout(t, token)
	if got := resp.StatusCode; got != http.StatusOK {
		t.Fatalf("back-channel logout: status = %d; want 200", got)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("back-channel logout: Cache-Control %q; want no-store", got)
	}
}

// postLogout posts a logout token to gate's back-channel logout endpoint
// through the proxy, as the provider would.
func (o *idpStack) postLogout(t *testing.T, token string) *http.Response {
	t.Helper()
	return o.do(t, client(t, o.ports.proxy), http.MethodPost, o.portalURL(o.path("backchannel-logout")),
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

// TestOIDCAttacks sends gate, through each shipped proxy configuration,
// what an attacker could: callbacks with states gate never issued or with
// a state repeated, and genuine callbacks (a leaked URL, or the attacker's
// own sign-in sent to a victim: login CSRF) from a browser without the
// cookie that binds the flow to the browser that began it, none of which
// may yield a session; and logout tokens the provider did not sign or did
// not mean for gate, none of which may end one.
func TestOIDCAttacks(t *testing.T) {
	for _, kind := range proxyKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			bin := testkit.Need(t, kind.name, kind.how, kind.programs...)
			startIDPStack(t, kind, bin, oidctest.Config{}).attack(t)
		})
	}
}

func (o *idpStack) attack(t *testing.T) {
	t.Run("climb_from_oidc_to_authz", func(t *testing.T) {
		// The authz endpoints are for the proxy's own subrequests; the
		// portal's routes for the provider must not be a way round the
		// proxy's block of /api/authz/, however the dots are written.
		for _, path := range []string{
			"/api/oidc/../authz/auth-request",
			"/api/oidc/%2e%2e/authz/auth-request",
			o.path("%2e%2e/%2e%2e/authz/auth-request"),
			o.path("..%2F..%2Fauthz%2Fauth-request"),
		} {
			resp := o.do(t, client(t, o.ports.proxy), http.MethodGet, o.portalURL(path), nil, http.Header{"X-Original-Url": {o.appURL("/")}})
			if got := resp.StatusCode; got != http.StatusNotFound {
				t.Errorf("GET %s: status = %d; want 404", path, got)
			}
		}
	})

	t.Run("forged_or_repeated_state", func(t *testing.T) {
		victim := client(t, o.ports.proxy)
		// A real flow's binding cookie and code, so that only the state is
		// wrong.
		genuine := o.pendingCallback(t, victim)
		q := mustParse(t, genuine).Query()
		withState := func(state string) string {
			return o.portalURL(o.path("callback") + "?" + url.Values{"code": {q.Get("code")}, "state": {state}}.Encode())
		}
		base, query, _ := strings.Cut(genuine, "?")
		for _, tc := range []struct{ callback, reason string }{
			{withState("forged"), usedState},
			{withState(q.Get("state") + "x"), usedState},
			{withState(strings.ToUpper(q.Get("state"))), usedState},
			{withState(strings.Repeat("a", 4096)), missingState},
			{withState(""), missingState},
			// The genuine state, and another: which one counts would depend
			// on who reads the query.
			{genuine + "&state=forged", "repeated state"},
			{base + "?state=forged&" + query, "repeated state"},
			{genuine + "&code=forged", "repeated code"},
		} {
			o.wantRefusal(t, tc.reason, func() { o.wantCallbackRefused(t, victim, tc.callback) })
		}
		// None of them used up the real state: the victim's own callback
		// still signs in.
		o.finishSignIn(t, victim, genuine)
	})

	t.Run("concurrent_callbacks", func(t *testing.T) {
		c := client(t, o.ports.proxy)
		o.wantOneWinner(t, c, o.pendingCallback(t, c))
	})

	t.Run("session_cookie_like_a_password_login", func(t *testing.T) {
		// A provider's sign-in issues the session a password login does:
		// the same cookie, with the same attributes and lifetime.
		c := client(t, o.ports.proxy)
		cb := o.do(t, c, http.MethodGet, o.pendingCallback(t, c), nil, nil)
		form := url.Values{"username": {aliceName}, "password": {alicePass}, "rd": {o.appURL("/")}}
		pw := o.do(t, client(t, o.ports.proxy), http.MethodPost, o.portalURL("/api/login"), strings.NewReader(form.Encode()), http.Header{
			"Content-Type": {"application/x-www-form-urlencoded"},
			"Origin":       {o.portalOrigin()},
		})
		// Set-Cookie without the value: the attributes.
		attrs := func(ck *http.Cookie) string {
			ck.Value = ""
			return ck.String()
		}
		if got, want := attrs(sessionCookie(t, cb)), attrs(sessionCookie(t, pw)); got != want {
			t.Errorf("session cookie after the provider's sign-in: %q; want a password login's %q", got, want)
		}
	})

	t.Run("binding_cookie", func(t *testing.T) {
		c := client(t, o.ports.proxy)
		resp := o.do(t, c, http.MethodGet, o.portalURL(o.path("start")), nil, nil)
		var binding *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "gate_oidc" {
				binding = ck
			}
		}
		switch {
		case binding == nil:
			t.Fatalf("start set no binding cookie: %q", resp.Header.Values("Set-Cookie"))
		// Script cannot read it; only this host gets it (a Domain would
		// hand it to every sibling subdomain); the provider's redirect back,
		// a cross-site top-level GET, still carries it under Lax.
		case !binding.HttpOnly, binding.Domain != "", binding.SameSite != http.SameSiteLaxMode, binding.Path != "/":
			t.Errorf("binding cookie %q; want HttpOnly, host-only, SameSite=Lax, Path=/", resp.Header.Values("Set-Cookie"))
		// It outlives the sign-in's state by nothing.
		case binding.MaxAge <= 0 || binding.MaxAge > 600:
			t.Errorf("binding cookie Max-Age = %d; want 1..600 seconds", binding.MaxAge)
		}
	})

	t.Run("forged_logout_tokens", func(t *testing.T) {
		victim := client(t, o.ports.proxy)
		o.finishSignIn(t, victim, o.pendingCallback(t, victim))
		claims := func(edit func(map[string]any)) map[string]any {
			c := o.idp.LogoutClaims(carolSubject, "")
			edit(c)
			return c
		}
		genuine := o.idp.LogoutToken(carolSubject, "")
		for _, tc := range []struct{ name, token string }{
			{"another key", o.idp.SignForeign(o.idp.LogoutClaims(carolSubject, ""))},
			{"tampered", oidctest.Tamper(genuine, claims(func(c map[string]any) { c["sub"] = "someone-else" }))},
			{"another audience", o.idp.Sign(claims(func(c map[string]any) { c["aud"] = "another-client" }))},
			{"another issuer", o.idp.Sign(claims(func(c map[string]any) { c["iss"] = "http://127.0.0.1:1" }))},
			{"expired", o.idp.Sign(claims(func(c map[string]any) {
				c["iat"], c["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-30*time.Minute).Unix()
			}))},
			{"no event", o.idp.Sign(claims(func(c map[string]any) { delete(c, "events") }))},
			{"a nonce", o.idp.Sign(claims(func(c map[string]any) { c["nonce"] = "n" }))},
			{"neither sub nor sid", o.idp.LogoutToken("", "")},
			{"an ID token's shape", o.idp.Sign(claims(func(c map[string]any) { delete(c, "events"); c["nonce"] = "n" }))},
		} {
			if got := o.postLogout(t, tc.token).StatusCode; got != http.StatusBadRequest {
				t.Errorf("logout token with %s: status = %d; want 400", tc.name, got)
			}
		}
		if got := o.status(t, cookieHeader(victim, o.appURL("/"))); got != http.StatusOK {
			t.Fatalf("after forged logout tokens carol's session: status = %d; want 200", got)
		}
		o.backchannelLogout(t, genuine)
		if got := o.status(t, cookieHeader(victim, o.appURL("/"))); got != http.StatusFound {
			t.Errorf("after the provider's logout token carol's session: status = %d; want 302 to the portal", got)
		}
	})

	for _, tc := range []struct {
		name string
		// browser is the jar the callback is sent from.
		browser func(t *testing.T) *http.Client
	}{
		{"no_binding_cookie", func(t *testing.T) *http.Client { return client(t, o.ports.proxy) }},
		{"another_browsers_binding_cookie", func(t *testing.T) *http.Client {
			attacker := client(t, o.ports.proxy)
			_ = o.pendingCallback(t, attacker)
			return attacker
		}},
		{"made_up_binding_cookie", func(t *testing.T) *http.Client {
			c := client(t, o.ports.proxy)
			c.Jar.SetCookies(mustParse(t, o.portalURL("/")), []*http.Cookie{{Name: "gate_oidc", Value: strings.Repeat("A", 43)}})
			return c
		}},
	} {
		t.Run("callback_with_"+tc.name, func(t *testing.T) {
			victim := client(t, o.ports.proxy)
			genuine := o.pendingCallback(t, victim)
			o.wantRefusal(t, otherBrowser, func() { o.wantCallbackRefused(t, tc.browser(t), genuine) })
			// The state is used once whatever the outcome: the refused
			// attempt took it, so the URL is worth nothing to anyone now.
			o.wantRefusal(t, usedState, func() { o.wantCallbackRefused(t, victim, genuine) })
		})
	}
}

// pendingCallback begins a sign-in with c, which keeps the binding cookie
// in its jar, and follows the provider's redirects up to gate's callback,
// whose URL it returns without visiting it.
func (o *idpStack) pendingCallback(t *testing.T, c *http.Client) string {
	t.Helper()
	direct := &http.Client{Timeout: 10 * time.Second, Jar: c.Jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	callback := o.portalURL(o.path("callback"))
	u := o.portalURL(o.path("start") + "?rd=" + url.QueryEscape(o.appURL("/")))
	for range 10 {
		via := direct
		if strings.HasPrefix(u, o.portalURL("")) {
			via = c
		}
		resp := doRequest(t, via, newRequest(t, http.MethodGet, u, nil, nil))
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("GET %s: status = %d; want a redirect\n%s", u, resp.StatusCode, readAll(t, resp))
		}
		next, err := resp.Location()
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		u = next.String()
		if strings.HasPrefix(u, callback+"?") {
			return u
		}
	}
	t.Fatalf("no redirect to %s after 10 steps", callback)
	return ""
}

// wantOneWinner sends a pending callback from c, the browser that began the
// sign-in, several times at once: the state is used once, so exactly one
// may sign in and every other must be refused.
func (o *idpStack) wantOneWinner(t *testing.T, c *http.Client, callback string) {
	t.Helper()
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, callback, nil)
			if err != nil {
				statuses <- 0
				return
			}
			resp, err := c.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	got := map[int]int{}
	for code := range statuses {
		got[code]++
	}
	if want := map[int]int{http.StatusFound: 1, http.StatusBadRequest: n - 1}; !maps.Equal(got, want) {
		t.Errorf("%d callbacks at once with one state: statuses %v; want %v", n, got, want)
	}
}

// sessionCookie is the gate_session cookie resp sets; it fails the test
// when there is none.
func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == "gate_session" && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("%s %s: status %d and no session cookie: %q", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, resp.Header.Values("Set-Cookie"))
	return nil
}

// finishSignIn GETs a pending callback URL with c, the browser that began
// the sign-in: gate must sign carol in and send c to the app.
func (o *idpStack) finishSignIn(t *testing.T, c *http.Client, callback string) {
	t.Helper()
	resp := o.do(t, c, http.MethodGet, callback, nil, nil)
	if got, want := resp.Header.Get("Location"), o.appURL("/"); resp.StatusCode != http.StatusFound || got != want {
		t.Fatalf("the callback: %d to %q; want 302 to %q", resp.StatusCode, got, want)
	}
	if got := o.status(t, cookieHeader(c, o.appURL("/"))); got != http.StatusOK {
		t.Fatalf("the callback's session: status = %d; want 200", got)
	}
}

// wantCallbackRefused GETs a callback URL with c: gate must answer with
// the portal's error page and no session cookie. The URL carries a code
// and a state, so messages leave it out.
func (o *idpStack) wantCallbackRefused(t *testing.T, c *http.Client, u string) {
	t.Helper()
	resp := o.do(t, c, http.MethodGet, u, nil, nil)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the callback: status = %d; want 400", resp.StatusCode)
	}
	if !strings.Contains(body, `class="error"`) {
		t.Errorf("the callback's answer is not the portal with an error:\n%s", body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "gate_session" && ck.Value != "" {
			t.Error("the callback set a session cookie")
		}
	}
	if got := o.status(t, cookieHeader(c, o.appURL("/"))); got != http.StatusFound {
		t.Errorf("after the callback the client reaches the app: status = %d; want 302 to the portal", got)
	}
}

// cookieHeader is the Cookie header c's jar sends to u.
func cookieHeader(c *http.Client, u string) string {
	p, _ := url.Parse(u)
	var parts []string
	for _, ck := range c.Jar.Cookies(p) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}
