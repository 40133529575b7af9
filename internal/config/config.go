package config

import "time"

// Config is the whole gate configuration. Field tags name the YAML keys; the
// same names, upper-cased and joined with '_', form the GATE_* environment
// variables.
type Config struct {
	Server                Server                `koanf:"server"`
	Log                   Log                   `koanf:"log"`
	Portal                Portal                `koanf:"portal"`
	AuthenticationBackend AuthenticationBackend `koanf:"authentication_backend"`
	AccessControl         AccessControl         `koanf:"access_control"`
	Regulation            Regulation            `koanf:"regulation"`
	Session               Session               `koanf:"session"`
	// SessionStore is another spelling of session.redis and
	// session.expiration; Load folds it into Session.
	SessionStore *SessionStore `koanf:"session_store"`
	Metrics      Metrics       `koanf:"metrics"`

	// storeFrom is where Load took the session store from.
	storeFrom StoreFrom
	// expirationFromTTL: session.expiration is session_store.redis.ttl
	// (given, or its default).
	expirationFromTTL bool
}

// Server holds the listener settings.
type Server struct {
	// Address is tcp://host:port, host:port, :port or unix:///path.
	Address        string   `koanf:"address"`
	ReadTimeout    Duration `koanf:"read_timeout"`
	WriteTimeout   Duration `koanf:"write_timeout"`
	IdleTimeout    Duration `koanf:"idle_timeout"`
	TrustedProxies []string `koanf:"trusted_proxies"`
}

// Log selects level and format of the logs.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// Portal is where the login portal is reached from browsers.
type Portal struct {
	URL                string `koanf:"url"`
	DefaultRedirectURL string `koanf:"default_redirect_url"`
}

// AuthenticationBackend selects where users come from.
type AuthenticationBackend struct {
	// File is optional once OIDC names a provider.
	File   FileBackend   `koanf:"file"`
	Header HeaderBackend `koanf:"header"`
	// OIDC are the upstream OpenID Connect providers (SPEC section 11).
	OIDC []OIDCProvider `koanf:"oidc"`
}

// HeaderBackend lets machine clients authenticate on the authz endpoints
// with credentials in the original request's headers (SPEC section 9).
// Both kinds are off by default.
type HeaderBackend struct {
	// Basic accepts Authorization / Proxy-Authorization: Basic.
	Basic bool `koanf:"basic"`
	// Tokens accepts Authorization: Bearer gate_… API tokens.
	Tokens bool `koanf:"tokens"`
	// Cache is how long a verified Basic credential is trusted without
	// another password check; 0 never caches.
	Cache Duration `koanf:"cache"`
}

// FileBackend is the Authelia-compatible users file.
type FileBackend struct {
	Path  string `koanf:"path"`
	Watch bool   `koanf:"watch"`
}

// AccessControl is the ordered rule list.
type AccessControl struct {
	DefaultPolicy string `koanf:"default_policy"`
	Rules         []Rule `koanf:"rules"`
}

// Rule is one access rule; every given criterion must match.
type Rule struct {
	Domain      StringList `koanf:"domain"`
	DomainRegex StringList `koanf:"domain_regex"`
	Resources   StringList `koanf:"resources"` // regexes on the normalized path and the raw query (Authelia's meaning)
	Paths       StringList `koanf:"paths"`     // regexes on the normalized path alone: a query never takes a request out
	Methods     StringList `koanf:"methods"`
	Networks    StringList `koanf:"networks"`
	// Subject is an OR of ANDs: each item is one or more "user:x" / "group:y"
	// that must all hold.
	Subject [][]string `koanf:"subject"`
	Policy  string     `koanf:"policy"`
	// RateLimit is nil for a rule without a limit.
	RateLimit *RateLimit `koanf:"rate_limit"`

	// parsed is what Validate made of the rule, for AccessControl.Parsed.
	parsed *parsedRule
}

// RateLimit admits at most Requests per Period per user or client.
type RateLimit struct {
	Requests int      `koanf:"requests"`
	Period   Duration `koanf:"period"`
	// By is "user" (anonymous requests count by client) or "client".
	By string `koanf:"by"`
}

// Regulation bans users and clients after repeated failed logins.
type Regulation struct {
	MaxRetries int      `koanf:"max_retries"`
	FindTime   Duration `koanf:"find_time"`
	BanTime    Duration `koanf:"ban_time"`
}

// Session describes the cookie and the session lifetime.
type Session struct {
	Name       string   `koanf:"name"`
	Secret     string   `koanf:"secret"`
	Expiration Duration `koanf:"expiration"`
	// Inactivity of 0 disables the inactivity limit.
	Inactivity Duration `koanf:"inactivity"`
	// RememberMe of RememberMeDisabled (-1 in YAML) disables remember-me;
	// otherwise it is positive.
	RememberMe Duration `koanf:"remember_me"`
	Domain     string   `koanf:"domain"`
	SameSite   string   `koanf:"same_site"`
	// Cookies is Authelia's multi-domain form (session.cookies), in place
	// of Domain and the portal section; read both through
	// Config.CookieDomains.
	Cookies []CookieEntry `koanf:"cookies"`
	// Redis is nil for the memory store.
	Redis *Redis `koanf:"redis"`
}

// CookieEntry is one item of session.cookies, as Authelia 4.38 documents
// it. A nil override takes the session-wide value.
type CookieEntry struct {
	Domain string `koanf:"domain"`
	// PortalURL is the entry's login portal; portal_url is gate's alias.
	PortalURL             string    `koanf:"authelia_url"`
	DefaultRedirectionURL string    `koanf:"default_redirection_url"`
	Name                  string    `koanf:"name"`
	SameSite              string    `koanf:"same_site"`
	Expiration            *Duration `koanf:"expiration"`
	Inactivity            *Duration `koanf:"inactivity"`
	RememberMe            *Duration `koanf:"remember_me"`
}

// RememberMeEnabled reports whether logins may ask for a long session.
func (s Session) RememberMeEnabled() bool { return s.RememberMe > 0 }

// Redis configures the Redis session store.
type Redis struct {
	Host                     string         `koanf:"host"`
	Port                     int            `koanf:"port"`
	Username                 string         `koanf:"username"`
	Password                 string         `koanf:"password"`
	DatabaseIndex            int            `koanf:"database_index"`
	MaximumActiveConnections int            `koanf:"maximum_active_connections"`
	MinimumIdleConnections   int            `koanf:"minimum_idle_connections"`
	Timeout                  Duration       `koanf:"timeout"`
	MaxRetries               int            `koanf:"max_retries"`
	SessionPrefix            string         `koanf:"session_prefix"`
	StatePrefix              string         `koanf:"state_prefix"`
	URL                      string         `koanf:"url"`
	TLS                      *RedisTLS      `koanf:"tls"`
	HighAvailability         *RedisSentinel `koanf:"high_availability"`
	Cluster                  *RedisCluster  `koanf:"cluster"`
}

// RedisTLS enables TLS, and mutual TLS with a client certificate.
type RedisTLS struct {
	ServerName           string `koanf:"server_name"`
	SkipVerify           bool   `koanf:"skip_verify"`
	MinimumVersion       string `koanf:"minimum_version"`
	MaximumVersion       string `koanf:"maximum_version"`
	CertificateAuthority string `koanf:"certificate_authority"`
	CertificateChain     string `koanf:"certificate_chain"`
	PrivateKey           string `koanf:"private_key"`
}

// RedisSentinel configures Redis Sentinel.
type RedisSentinel struct {
	SentinelName     string      `koanf:"sentinel_name"`
	SentinelUsername string      `koanf:"sentinel_username"`
	SentinelPassword string      `koanf:"sentinel_password"`
	Nodes            []RedisNode `koanf:"nodes"`
	RouteByLatency   bool        `koanf:"route_by_latency"`
	RouteRandomly    bool        `koanf:"route_randomly"`
}

// RedisCluster configures Redis Cluster.
type RedisCluster struct {
	Nodes []RedisNode `koanf:"nodes"`
}

// RedisNode is one Sentinel or Cluster node.
type RedisNode struct {
	Host string `koanf:"host"`
	Port int    `koanf:"port"`
}

// Metrics toggles the Prometheus endpoint.
type Metrics struct {
	Enabled bool `koanf:"enabled"`
}

// Duration is a time.Duration that decodes from Go notation, plain seconds,
// or the s m h d w M y units (see ParseDuration).
type Duration = time.Duration

// StringList decodes from a single string or a list of strings.
type StringList []string
