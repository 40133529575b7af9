package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SessionStore is the session_store block (SPEC section 13), the spelling
// of gateways configured in the Oathkeeper style: another way to write
// session.redis and session.expiration. Load folds it into Session, so
// consumers read Session alone; every problem found in it is named with
// the operator's keys (session_store.redis.addr), not gate's.
type SessionStore struct {
	// Type is memory (the default) or redis.
	Type  string             `koanf:"type"`
	Redis *SessionStoreRedis `koanf:"redis"`
}

// SessionStoreRedis is session_store.redis.
type SessionStoreRedis struct {
	// Addr is host:port or [IPv6]:port.
	Addr          string `koanf:"addr"`
	Password      string `koanf:"password"`
	DB            int    `koanf:"db"`
	SessionPrefix string `koanf:"session_prefix"`
	StatePrefix   string `koanf:"state_prefix"`
	// TTL is the session lifetime, session.expiration; nil is
	// defaultStoreTTL.
	TTL *Duration `koanf:"ttl"`
}

const (
	storeKey      = "session_store"
	storeRedisKey = storeKey + ".redis"
	// RedisURLEnv is the 12-factor variable read when the configuration
	// names no store at all.
	RedisURLEnv = "REDIS_URL"
	// defaultStoreTTL is session_store's own default lifetime.
	defaultStoreTTL = 24 * time.Hour
	// maxStoreDB is the last database of a default Redis (databases 16).
	maxStoreDB = 15
)

// StoreFrom says where the session store's settings came from, for the
// log at start and for naming keys as the operator wrote them.
type StoreFrom int

const (
	// StoreFromSession: session.redis, or no store (memory).
	StoreFromSession StoreFrom = iota
	// StoreFromBlock: the session_store block.
	StoreFromBlock
	// StoreFromRedisURL: the REDIS_URL environment variable.
	StoreFromRedisURL
)

// StoreFrom reports where Load took the session store from.
func (c *Config) StoreFrom() StoreFrom { return c.storeFrom }

// RedisKey is the key the operator wrote the Redis store under:
// session.redis, session_store.redis or REDIS_URL. Errors about the Redis
// connection are put under it.
func (c *Config) RedisKey() string { return c.OperatorKey(redisKey) }

// OperatorKey renames a key path of gate's own spelling to the one the
// operator wrote, when the store came from session_store or REDIS_URL.
func (c *Config) OperatorKey(key string) string {
	switch c.storeFrom {
	case StoreFromBlock:
		if key == expirationKey && !c.expirationFromTTL {
			return key
		}
		return blockKey(key)
	case StoreFromRedisURL:
		if key == redisKey || strings.HasPrefix(key, redisKey+".") {
			return RedisURLEnv
		}
	}
	return key
}

// blockKeys are gate's keys whose session_store spelling differs in more
// than the section.
var blockKeys = map[string]string{
	redisKey + ".host":           storeRedisKey + ".addr",
	redisKey + ".port":           storeRedisKey + ".addr",
	redisKey + ".database_index": storeRedisKey + ".db",
	redisKey + ".password":       storeRedisKey + ".password",
	expirationKey:                storeRedisKey + ".ttl",
}

const expirationKey = "session.expiration"

// operatorMessage renames session.expiration where a message names it
// (inactivity is compared with it) when the lifetime came from
// session_store.redis.ttl.
func (c *Config) operatorMessage(msg string) string {
	if c.storeFrom != StoreFromBlock || !c.expirationFromTTL {
		return msg
	}
	return strings.ReplaceAll(msg, expirationKey, storeRedisKey+".ttl")
}

func blockKey(key string) string {
	if k, ok := blockKeys[key]; ok {
		return k
	}
	if rest, ok := strings.CutPrefix(key, redisKey); ok && (rest == "" || rest[0] == '.') {
		return storeRedisKey + rest
	}
	return key
}

// storeKeysGiven records which store keys the operator's layers (files,
// environment, secret files) set; the defaults do not count.
type storeKeysGiven struct {
	block, redis, expiration bool
}

// note marks the store keys one layer sets.
func (g *storeKeysGiven) note(layer map[string]any) {
	if _, ok := layer[storeKey]; ok {
		g.block = true
	}
	if s, ok := layer["session"].(map[string]any); ok {
		if _, ok := s["redis"]; ok {
			g.redis = true
		}
		if _, ok := s["expiration"]; ok {
			g.expiration = true
		}
	}
}

// envRef is a value that is exactly ${NAME}.
var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// expandStoreEnv replaces every string value of the session_store block
// that is exactly ${NAME} with the variable NAME. An unset (or empty)
// variable is an error naming the key: a password must never silently
// become empty. Values that merely contain ${...} are left as written.
func expandStoreEnv(raw map[string]any, getenv func(string) string, ps *problems) {
	if block, ok := raw[storeKey].(map[string]any); ok {
		expandEnvIn(storeKey, block, getenv, ps)
	}
}

func expandEnvIn(path string, m map[string]any, getenv func(string) string, ps *problems) {
	for k, v := range m {
		key := joinKey(path, k)
		switch v := v.(type) {
		case map[string]any:
			expandEnvIn(key, v, getenv, ps)
		case string:
			ref := envRef.FindStringSubmatch(v)
			if ref == nil {
				continue
			}
			val := getenv(ref[1])
			if val == "" {
				ps.add(key, "names the environment variable %s, which is not set", ref[1])
				delete(m, k)
				continue
			}
			m[k] = val
		}
	}
}

// useRedisURL puts REDIS_URL in place of session.redis when no layer
// named a store, and reports whether it did.
func useRedisURL(raw map[string]any, given storeKeysGiven, getenv func(string) string) bool {
	u := getenv(RedisURLEnv)
	if u == "" || given.block || given.redis {
		return false
	}
	setPath(raw, []string{"session", "redis", "url"}, u)
	return true
}

// applySessionStore folds the decoded session_store block into
// c.Session, reporting its problems under its own keys.
func (c *Config) applySessionStore(given storeKeysGiven, ps *problems) {
	b := c.SessionStore
	if b == nil {
		return
	}
	c.storeFrom = StoreFromBlock
	if given.redis {
		ps.add(storeKey, "cannot be set together with session.redis: they are two spellings of the Redis store; keep one")
		return
	}
	r := b.Redis
	if r != nil && r.TTL != nil && given.expiration {
		ps.add(storeRedisKey+".ttl", "cannot be set together with session.expiration: they are two spellings of the session lifetime; keep one")
	}
	c.applyStoreTTL(r, given, ps)
	switch b.Type {
	case "", "memory":
		if r != nil && r.Addr != "" {
			ps.add(storeRedisKey+".addr", "is set but session_store.type is %s; set type: redis to use Redis", typeOrDefault(b.Type))
		}
	case "redis":
		c.Session.Redis = r.toRedis(ps)
	default:
		ps.add(storeKey+".type", "must be memory or redis, got %q", b.Type)
	}
}

func typeOrDefault(t string) string {
	if t == "" {
		return "memory (the default)"
	}
	return t
}

// applyStoreTTL sets the session lifetime from ttl, or to this form's
// default when neither ttl nor session.expiration is given.
func (c *Config) applyStoreTTL(r *SessionStoreRedis, given storeKeysGiven, ps *problems) {
	switch {
	case r != nil && r.TTL != nil:
		if *r.TTL <= 0 {
			ps.add(storeRedisKey+".ttl", "must be positive, got %v", time.Duration(*r.TTL))
			return
		}
		c.Session.Expiration = *r.TTL
		c.expirationFromTTL = true
	case !given.expiration:
		c.Session.Expiration = defaultStoreTTL
		c.expirationFromTTL = true
	}
}

// toRedis is the session.redis section the block stands for: gate's Redis
// defaults, with the block's values over them.
func (r *SessionStoreRedis) toRedis(ps *problems) *Redis {
	if r == nil || r.Addr == "" {
		ps.add(storeRedisKey+".addr", "required with session_store.type redis: host:port or [IPv6]:port")
		return nil
	}
	out := defaultRedis()
	host, port, err := parseStoreAddr(r.Addr)
	if err != nil {
		ps.add(storeRedisKey+".addr", "%v", err)
		return nil
	}
	out.Host, out.Port = host, port
	out.Password = r.Password
	if r.DB < 0 || r.DB > maxStoreDB {
		ps.add(storeRedisKey+".db", "must be 0-%d, got %d", maxStoreDB, r.DB)
	}
	out.DatabaseIndex = r.DB
	if r.SessionPrefix != "" {
		out.SessionPrefix = r.SessionPrefix
	}
	if r.StatePrefix != "" {
		out.StatePrefix = r.StatePrefix
	}
	return &out
}

// parseStoreAddr reads host:port or [IPv6]:port, the port required, into
// session.redis's host (IPv6 bracketed, as that key wants it) and port.
// It is the Redis URL's host reader, with the port made mandatory.
func parseStoreAddr(s string) (host string, port int, err error) {
	const noPort = -1
	hp, err := hostPort(s, noPort)
	if err != nil {
		return "", 0, fmt.Errorf("must be host:port or [IPv6]:port: %w", err)
	}
	i := strings.LastIndexByte(hp, ':')
	if port, _ = strconv.Atoi(hp[i+1:]); port == noPort {
		return "", 0, fmt.Errorf("must be host:port or [IPv6]:port: the port is missing")
	}
	host = hp[:i]
	return host, port, nil
}
