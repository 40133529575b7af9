package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"gate/internal/config"
	"gate/internal/credcache"
	gatehttp "gate/internal/http"
	"gate/internal/keys"
	"gate/internal/oidc"
	"gate/internal/ratelimit"
	"gate/internal/revoke"
	"gate/internal/session"
	"gate/internal/users"
)

// shutdownGrace is how long in-flight requests may finish after SIGTERM.
const shutdownGrace = 10 * time.Second

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(args, "serve", getenv)
	if err != nil {
		return err
	}
	st, err := prepare(cfg, stderr)
	if err != nil {
		return err
	}
	log := st.log
	srv, cleanup, err := build(cfg, st)
	if err != nil {
		return err
	}
	defer cleanup()

	network, addr := st.network, st.address
	if network == "unix" {
		// A socket left by a previous run would make Listen fail; anything
		// else at that path is not ours to delete.
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(addr)
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("server.address: listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: min(cfg.Server.ReadTimeout, 5*time.Second),
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
	}
	storeKind := "memory"
	if cfg.Session.Redis != nil {
		storeKind = "redis"
	}
	if cfg.StoreFrom() == config.StoreFromRedisURL {
		// The store came from the environment, not the configuration:
		// say so, or an operator reading the files would look for it there.
		log.Info().Msg("session store taken from REDIS_URL (the configuration names none)")
	}
	log.Info().Str("address", ln.Addr().String()).Str("network", network).Str("version", version).
		Str("store", storeKind).Msg("gate listening")

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// build wires the server from a validated configuration and the parts
// prepare built from it, opening what needs I/O: the users file and its
// watcher, the session store, the Redis client.
func build(cfg *config.Config, st *startup) (*gatehttp.Server, func(), error) {
	log := st.log
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*gatehttp.Server, func(), error) {
		cleanup()
		return nil, nil, err
	}

	// Without a users file (providers only), nobody signs in with a
	// password and no token authenticates.
	var (
		dir       gatehttp.UserDirectory  = noUsers{}
		tokens    gatehttp.TokenDirectory = noUsers{}
		file      *users.File
		linkUsers oidc.Directory
	)
	if cfg.AuthenticationBackend.File.Path != "" {
		f, err := openUsers(cfg, cfg.AuthenticationBackend.File.Watch, log)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() { _ = f.Close() })
		file, dir, tokens, linkUsers = f, f, f, f
	}

	for _, w := range st.rules.Warnings() {
		log.Warn().Msg("warning: " + w.String())
	}

	var (
		store session.Store
		reg   = st.regulator
		// activeSessions feeds the gauge; the memory store only, as counting
		// Redis sessions would mean scanning the keyspace.
		activeSessions func() float64
		creds          gatehttp.CredentialCache = credcache.NewMemory(0, nil)
		limiter        gatehttp.RateLimiter     = ratelimit.NewMemory(0, nil)
		// health feeds the store's up gauge and outage counter; nil for
		// the memory store, which is always up.
		health gatehttp.StoreHealth
		states oidc.StateStore = oidc.NewMemoryStates(0, nil)
	)
	if rc := cfg.Session.Redis; rc != nil {
		r, err := openRedis(*rc, st.redis, st.keys, log)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, r.stop)
		store, creds, limiter, health, states = r.store, r.creds, r.limits, r.health, r.states
		if reg, err = newRegulator(cfg, r.counters, st.keys); err != nil {
			return fail(atKey("regulation", err))
		}
	} else {
		mem := session.NewMemory(session.MemoryOptions{})
		closers = append(closers, func() { _ = mem.Close() })
		store = mem
		activeSessions = func() float64 { return float64(mem.Len()) }
	}
	// A new password hash, a disabled or removed user in the users file
	// ends that user's sessions in the store, for good.
	revoker := revoke.New(store, log)
	closers = append(closers, revoker.Close)
	if file != nil {
		file.OnRevoke(revoker.Revoke)
	}
	providers, err := newProviders(cfg, states, st.keys, linkUsers, log)
	if err != nil {
		return fail(err)
	}
	// Discovery runs in the background, with back-off: gate serves (and
	// password logins work) while a provider is down.
	discovery, stopDiscovery := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range providers {
		wg.Go(func() { p.Run(discovery) })
	}
	closers = append(closers, func() { stopDiscovery(); wg.Wait() })

	var metrics *gatehttp.Metrics
	if cfg.Metrics.Enabled {
		metrics = gatehttp.NewMetrics(activeSessions)
		metrics.SetStoreHealth(health)
	}
	srv, err := gatehttp.New(gatehttp.Options{
		Sessions:       store,
		Sites:          sites(st),
		Users:          dir,
		Rules:          st.rules,
		Regulator:      reg,
		Logger:         log,
		Metrics:        metrics,
		TrustedProxies: st.trusted,
		WriteTimeout:   cfg.Server.WriteTimeout,
		Header:         cfg.AuthenticationBackend.Header,
		Tokens:         tokens,
		Credentials:    creds,
		CredentialKey:  st.keys.Credentials,
		Limiter:        limiter,
		RateLimitKey:   st.keys.RateLimit,
		OIDC:           providers,
		NoPasswords:    file == nil,
	})
	if err != nil {
		return fail(err)
	}
	return srv, cleanup, nil
}

// sites are the cookie domains as the server takes them, each with the
// codec prepare built for it.
func sites(st *startup) []gatehttp.Site {
	out := make([]gatehttp.Site, len(st.domains))
	for i, d := range st.domains {
		out[i] = gatehttp.Site{
			Cookies:            st.cookies[i],
			PortalURL:          d.PortalURL,
			DefaultRedirectURL: d.DefaultRedirectURL,
			Domain:             d.Domain,
			Expiration:         d.Expiration,
			Inactivity:         d.Inactivity,
			RememberMe:         d.RememberMe,
		}
	}
	return out
}

func sameSite(v string) http.SameSite {
	switch strings.ToLower(v) {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	default:
		return http.SameSiteLaxMode
	}
}

func newLogger(c config.Log, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		return zerolog.Logger{}, fmt.Errorf("log.level: unknown level %q", c.Level)
	}
	if c.Format == "text" {
		w = zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: time.RFC3339}
	}
	// Requests and the Redis watcher log from several goroutines; w need
	// not be safe for that (a test's buffer is not).
	w = zerolog.SyncWriter(w)
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// newProviders builds the OpenID Connect providers on states, the flow
// state store serve uses; prepare builds them once on a memory store to
// check them. They do no I/O until Run.
func newProviders(cfg *config.Config, states oidc.StateStore, k keys.Set, dir oidc.Directory, log zerolog.Logger) ([]*oidc.Provider, error) {
	var out []*oidc.Provider
	for i, pc := range cfg.AuthenticationBackend.OIDC {
		p, err := oidc.New(pc, oidc.Options{States: states, Key: k.OIDCState, SealKey: k.OIDCStateCipher, Users: dir, Logger: log})
		if err != nil {
			return nil, atKey(fmt.Sprintf("authentication_backend.oidc[%d]", i), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// noUsers is the users directory of a gate without a users file.
type noUsers struct{}

func (noUsers) Authenticate(context.Context, string, string) (users.User, error) {
	return users.User{}, users.ErrInvalidCredentials
}

func (noUsers) Lookup(string) (users.User, bool) { return users.User{}, false }

func (noUsers) NameTaken(string) bool { return false }

func (noUsers) AuthenticateToken(string, time.Time) (users.User, error) {
	return users.User{}, users.ErrInvalidCredentials
}
