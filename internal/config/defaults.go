package config

import (
	"reflect"
	"time"
)

// Default returns the configuration every file is layered onto. It is not
// valid by itself: session.secret, session.domain, portal.url and
// authentication_backend.file.path have no sensible default.
func Default() Config {
	return Config{
		Server: Server{
			Address:      "tcp://0.0.0.0:9091",
			ReadTimeout:  10 * time.Second,
			WriteTimeout: 10 * time.Second,
			IdleTimeout:  60 * time.Second,
			// Loopback and the private ranges: where a reverse proxy in
			// front of gate usually sits.
			TrustedProxies: []string{
				"127.0.0.0/8", "::1/128",
				"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
			},
		},
		Log: Log{Level: "info", Format: "json"},
		AuthenticationBackend: AuthenticationBackend{
			Header: HeaderBackend{Cache: 5 * time.Minute},
		},
		AccessControl: AccessControl{DefaultPolicy: "deny"},
		Regulation: Regulation{
			MaxRetries: 3,
			FindTime:   2 * time.Minute,
			BanTime:    5 * time.Minute,
		},
		Session: Session{
			Name:       "gate_session",
			Expiration: time.Hour,
			Inactivity: 5 * time.Minute,
			RememberMe: month,
			SameSite:   "lax",
		},
		Metrics: Metrics{Enabled: true},
	}
}

// Defaults for optional sections. They apply only when the section is
// present, because presence itself is the switch: a redis section selects
// the Redis store, a tls section turns on TLS.
const (
	defaultRedisPort    = 6379
	defaultSentinelPort = 26379
	defaultClusterPort  = 6379
)

func defaultRedis() Redis {
	return Redis{
		Port:                     defaultRedisPort,
		MaximumActiveConnections: 8,
		Timeout:                  5 * time.Second,
		SessionPrefix:            "gate:session:",
		StatePrefix:              "gate:state:",
		LocalCache:               RedisLocalCache{Enabled: true, MaxEntries: 100_000},
	}
}

func defaultRedisTLS() RedisTLS {
	return RedisTLS{MinimumVersion: "TLS1.2"}
}

// applySectionDefaults fills the defaults of the optional sections that the
// merged configuration contains, key by key, leaving given keys alone.
func applySectionDefaults(raw map[string]any) {
	session, _ := raw["session"].(map[string]any)
	redis, ok := session["redis"].(map[string]any)
	if !ok {
		return
	}
	fillMissing(redis, toMap(reflect.ValueOf(defaultRedis())))
	if tls, ok := redis["tls"].(map[string]any); ok {
		fillMissing(tls, toMap(reflect.ValueOf(defaultRedisTLS())))
	}
	if ha, ok := redis["high_availability"].(map[string]any); ok {
		defaultNodePorts(ha, defaultSentinelPort)
	}
	if cluster, ok := redis["cluster"].(map[string]any); ok {
		defaultNodePorts(cluster, defaultClusterPort)
	}
}

func defaultNodePorts(section map[string]any, port int) {
	nodes, _ := section["nodes"].([]any)
	for _, n := range nodes {
		if node, ok := n.(map[string]any); ok {
			if _, given := node["port"]; !given {
				node["port"] = port
			}
		}
	}
}

// fillMissing fills dst's missing keys from defaults, and those of the
// sections dst gives in part (local_cache: {max_entries: 10} keeps the
// default enabled).
func fillMissing(dst, defaults map[string]any) {
	for k, v := range defaults {
		given, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		if sub, ok := given.(map[string]any); ok {
			if def, ok := v.(map[string]any); ok {
				fillMissing(sub, def)
			}
		}
	}
}

// toMap turns a struct into the nested map koanf layers merge, keyed by the
// koanf tags. Zero values and nil sections are left out, so a defaults layer
// never makes an optional section present or hides a missing key.
func toMap(v reflect.Value) map[string]any {
	out := map[string]any{}
	t := v.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("koanf")
		f := v.Field(i)
		if name == "" || f.IsZero() {
			continue
		}
		switch {
		case f.Kind() == reflect.Pointer:
			out[name] = toMap(f.Elem())
		case f.Kind() == reflect.Struct:
			out[name] = toMap(f)
		case f.Kind() == reflect.Slice:
			list := make([]any, f.Len())
			for j := range list {
				e := f.Index(j)
				if e.Kind() == reflect.Struct {
					list[j] = toMap(e)
				} else {
					list[j] = e.Interface()
				}
			}
			out[name] = list
		default:
			out[name] = f.Interface()
		}
	}
	return out
}
