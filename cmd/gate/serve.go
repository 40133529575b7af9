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
	"time"

	"github.com/rs/zerolog"

	"gate/internal/config"
	"gate/internal/cookie"
	gatehttp "gate/internal/http"
	"gate/internal/regulation"
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
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	srv, cleanup, err := build(cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()

	network, addr, err := config.ParseAddress(cfg.Server.Address)
	if err != nil {
		return fmt.Errorf("server.address: %w", err)
	}
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

// build wires the server from a validated configuration.
func build(cfg *config.Config, log zerolog.Logger) (*gatehttp.Server, func(), error) {
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

	dir, err := users.Open(cfg.AuthenticationBackend.File.Path, cfg.AuthenticationBackend.File.Watch, log)
	if err != nil {
		return fail(fmt.Errorf("authentication_backend.file.path: %w", err))
	}
	closers = append(closers, func() { _ = dir.Close() })

	rules, err := compileRules(cfg)
	if err != nil {
		return fail(err)
	}
	for _, w := range rules.Warnings() {
		log.Warn().Msg("warning: " + w.String())
	}
	trusted, err := config.ParsePrefixes(cfg.Server.TrustedProxies)
	if err != nil {
		return fail(fmt.Errorf("server.trusted_proxies: %w", err))
	}

	cookies, err := cookie.FromSecret(cookie.Config{
		Name:     cfg.Session.Name,
		Domain:   cfg.Session.Domain,
		Secure:   strings.HasPrefix(cfg.Portal.URL, "https://"),
		SameSite: sameSite(cfg.Session.SameSite),
	}, cfg.Session.Secret)
	if err != nil {
		return fail(fmt.Errorf("session: %w", err))
	}

	var (
		store    session.Store
		counters regulation.Counters
		// activeSessions feeds the gauge; the memory store only, as counting
		// Redis sessions would mean scanning the keyspace.
		activeSessions func() float64
		// health feeds the store's up gauge and outage counter; nil for
		// the memory store, which is always up.
		health gatehttp.StoreHealth
	)
	if rc := cfg.Session.Redis; rc != nil {
		rs, rcounters, rhealth, closeRedis, err := openRedis(*rc, cfg.Session.Secret, log)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, closeRedis)
		store, counters, health = rs, rcounters, rhealth
	} else {
		mem := session.NewMemory(session.MemoryOptions{})
		closers = append(closers, func() { _ = mem.Close() })
		store, counters = mem, regulation.NewMemoryCounters(regulation.MemoryOptions{})
		activeSessions = func() float64 { return float64(mem.Len()) }
	}
	// A new password hash, a disabled or removed user in the users file
	// ends that user's sessions in the store, for good.
	revoker := revoke.New(store, log)
	closers = append(closers, revoker.Close)
	dir.OnRevoke(revoker.Revoke)

	reg, err := regulation.New(cfg.Regulation, counters, cfg.Session.Secret)
	if err != nil {
		return fail(fmt.Errorf("regulation: %w", err))
	}

	var metrics *gatehttp.Metrics
	if cfg.Metrics.Enabled {
		metrics = gatehttp.NewMetrics(activeSessions)
		metrics.SetStoreHealth(health)
	}
	srv, err := gatehttp.New(gatehttp.Options{
		Sessions:           store,
		Cookies:            cookies,
		Users:              dir,
		Rules:              rules,
		Regulator:          reg,
		Logger:             log,
		Metrics:            metrics,
		PortalURL:          cfg.Portal.URL,
		DefaultRedirectURL: cfg.Portal.DefaultRedirectURL,
		Domain:             cfg.Session.Domain,
		TrustedProxies:     trusted,
		Expiration:         cfg.Session.Expiration,
		Inactivity:         cfg.Session.Inactivity,
		RememberMe:         cfg.Session.RememberMe,
	})
	if err != nil {
		return fail(err)
	}
	return srv, cleanup, nil
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
