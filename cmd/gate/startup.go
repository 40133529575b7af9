package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strings"

	"github.com/rs/zerolog"

	"gate/internal/access"
	"gate/internal/config"
	"gate/internal/cookie"
	"gate/internal/keys"
	"gate/internal/oidc"
	"gate/internal/redisconn"
	"gate/internal/regulation"
	"gate/internal/users"
)

// startup is what serve builds from a configuration before it opens
// anything: the parts whose constructors do no I/O beyond reading the
// files the configuration names. validate-config builds the same and
// throws it away, so that the two commands run one list of constructors
// and cannot disagree about a configuration: what validate-config accepts,
// serve starts with.
type startup struct {
	log zerolog.Logger
	// keys are derived from session.secret, once: each constructor gets the
	// bytes of its own purpose.
	keys keys.Set
	// network and address are what net.Listen takes.
	network, address string
	trusted          []netip.Prefix
	rules            *access.Rules
	// domains are config's cookie domains, and cookies their codecs, in
	// the same order.
	domains []config.CookieDomain
	cookies []*cookie.Codec
	// redis is the Redis connection plan; nil for the memory store.
	redis *redisconn.Plan
	// regulator keeps its counters in memory, as serve does with the memory
	// store; with Redis, serve builds it again on the Redis counters, which
	// changes nothing regulation.New checks.
	regulator *regulation.Regulator
}

// prepare runs every constructor that does no I/O on cfg, which Load has
// validated. It reports every problem at once, each naming its key path.
// The logger writes to logOut.
func prepare(cfg *config.Config, logOut io.Writer) (*startup, error) {
	s := &startup{}
	var errs []error
	check := func(key string, err error) {
		if err != nil {
			errs = append(errs, atKey(key, err))
		}
	}
	var err error
	s.log, err = newLogger(cfg.Log, logOut)
	check("log", err)
	s.network, s.address, err = config.ParseAddress(cfg.Server.Address)
	check("server.address", err)
	s.trusted, err = cfg.Server.TrustedPrefixes()
	check("server.trusted_proxies", err)
	s.domains = cfg.CookieDomains()
	names := make([]string, len(s.domains))
	for i, d := range s.domains {
		names[i] = d.Domain
	}
	s.rules, err = access.New(cfg.AccessControl, names...)
	check("access_control", err)
	s.keys, err = keys.FromSecret(cfg.Session.Secret)
	check("session.secret", err)
	for _, d := range s.domains {
		c, err := newCookies(d, s.keys)
		check(d.Key(), err)
		s.cookies = append(s.cookies, c)
	}
	if rc := cfg.Session.Redis; rc != nil {
		s.redis, err = redisconn.Resolve(*rc)
		check(cfg.RedisKey(), err)
	}
	s.regulator, err = newRegulator(cfg, regulation.NewMemoryCounters(regulation.MemoryOptions{}), s.keys)
	check("regulation", err)
	// Providers are built again by serve, on the store it opens.
	_, err = newProviders(cfg, oidc.NewMemoryStates(1, nil), s.keys, linkCheck{}, s.log)
	check("authentication_backend.oidc", err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// newCookies builds the session cookie codec of one cookie domain. Every
// domain's cookie is signed with the same keys: its name and the domain
// the browser keeps it for tell them apart, and a session id is worth as
// much on one domain as on another only if its user logs in there.
func newCookies(d config.CookieDomain, k keys.Set) (*cookie.Codec, error) {
	return cookie.New(cookie.Config{
		Name:     d.Name,
		Domain:   d.Domain,
		Secure:   d.HTTPS(),
		SameSite: sameSite(d.SameSite),
		HashKey:  k.CookieHash,
		BlockKey: k.CookieBlock,
	})
}

// newRegulator builds the login regulator on counters.
func newRegulator(cfg *config.Config, counters regulation.Counters, k keys.Set) (*regulation.Regulator, error) {
	return regulation.New(cfg.Regulation, counters, k.Regulation)
}

// openUsers reads the users file, watching it for changes with watch.
func openUsers(cfg *config.Config, watch bool, log zerolog.Logger) (*users.File, error) {
	dir, err := users.Open(cfg.AuthenticationBackend.File.Path, watch, log)
	return dir, atKey("authentication_backend.file.path", err)
}

// atKey puts every line of err that does not start with a key path under
// key, so that each problem names the key to change. Lines from config's
// parsers name theirs already.
func atKey(key string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range leafErrors(err) {
		if !namesKey(e.Error()) {
			e = fmt.Errorf("%s: %w", key, e)
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// leafErrors takes joined errors apart.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// namesKey reports whether msg starts with a key path: a top-level
// section of the configuration, then '.', '[' or ':'.
func namesKey(msg string) bool {
	i := strings.IndexAny(msg, ".[:")
	if i <= 0 {
		return false
	}
	if msg[:i] == config.RedisURLEnv {
		return true
	}
	t := reflect.TypeFor[config.Config]()
	for j := range t.NumField() {
		if t.Field(j).Tag.Get("koanf") == msg[:i] {
			return true
		}
	}
	return false
}

// linkCheck stands in for the users file when prepare builds the
// providers: config has checked that a provider with link has a file.
type linkCheck struct{}

func (linkCheck) Entry(string) (users.User, bool)       { return users.User{}, false }
func (linkCheck) EntryByEmail(string) (users.User, int) { return users.User{}, 0 }
func (linkCheck) NameTaken(string) bool                 { return false }
