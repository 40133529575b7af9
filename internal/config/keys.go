package config

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The key schema is the Config struct itself: its koanf tags are the only
// list of keys, so the unknown-key check and the GATE_* names cannot drift
// from what is decoded.

// aliases are accepted spellings of a key, per section path.
var aliases = map[string]map[string]string{
	// Authelia's older name.
	"session": {"remember_me_duration": "remember_me"},
	// gate's own name beside Authelia's, and Authelia's older one.
	"session.cookies[]": {"portal_url": "authelia_url", "remember_me_duration": "remember_me"},
}

// listIndex matches the index of a list item in a key path.
var listIndex = regexp.MustCompile(`\[\d+\]`)

// aliasesAt returns the aliases of the section at path; the items of a
// list share theirs, under the list's path with "[]".
func aliasesAt(path string) map[string]string {
	return aliases[listIndex.ReplaceAllString(path, "[]")]
}

// fieldsOf maps koanf tags to struct fields.
func fieldsOf(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("koanf"); name != "" {
			out[name] = f
		}
	}
	return out
}

// section reports whether t decodes from a mapping, and the struct type.
func section(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t, t.Kind() == reflect.Struct
}

// sectionList reports whether t is a list of mappings (rules, nodes), and
// the item type.
func sectionList(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() != reflect.Slice {
		return nil, false
	}
	return section(t.Elem())
}

func joinKey(path, key string) string {
	if !plainKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// plainKey reports whether a key can be printed unquoted in a key path; a
// key with spaces, dots or control characters is quoted so the path stays
// one unambiguous line.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func indexKey(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// normalizeLayer prepares one layer (a file, the environment) before it is
// merged over the layers below it: aliases take their canonical name, and a
// key left empty (YAML null) counts as not given, except that an empty
// section still counts as present ("redis:" alone selects Redis).
func normalizeLayer(path string, m map[string]any, t reflect.Type, ps *problems) {
	for alias, canonical := range aliasesAt(path) {
		v, ok := m[alias]
		if !ok {
			continue
		}
		delete(m, alias)
		if _, both := m[canonical]; both {
			ps.add(joinKey(path, alias), "cannot be set together with %s", joinKey(path, canonical))
			continue
		}
		m[canonical] = v
	}
	fields := fieldsOf(t)
	for k, v := range m {
		f, ok := fields[k]
		if !ok {
			continue
		}
		st, isSection := section(f.Type)
		switch {
		case v == nil && isSection:
			m[k] = map[string]any{}
		case v == nil:
			delete(m, k)
		case isSection:
			if sub, ok := v.(map[string]any); ok {
				normalizeLayer(joinKey(path, k), sub, st, ps)
			}
		default:
			if it, ok := sectionList(f.Type); ok {
				list, _ := v.([]any)
				for i, item := range list {
					if sub, ok := item.(map[string]any); ok {
						normalizeLayer(indexKey(joinKey(path, k), i), sub, it, ps)
					}
				}
			}
		}
	}
}

// checkKeys reports every key of m that t does not declare, at any depth,
// list items included. Values of the wrong shape are left to the decoder,
// which reports them with the same paths.
func checkKeys(path string, m map[string]any, t reflect.Type, ps *problems) {
	fields := fieldsOf(t)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key := joinKey(path, k)
		f, ok := fields[k]
		if !ok {
			ps.add(key, "unknown key")
			continue
		}
		if st, ok := section(f.Type); ok {
			if sub, ok := m[k].(map[string]any); ok {
				checkKeys(key, sub, st, ps)
			}
			continue
		}
		if it, ok := sectionList(f.Type); ok {
			list, _ := m[k].([]any)
			for i, item := range list {
				if sub, ok := item.(map[string]any); ok {
					checkKeys(indexKey(key, i), sub, it, ps)
				}
			}
		}
	}
}

// envKey is one key settable from the environment.
type envKey struct {
	path  []string
	list  bool // comma-separated in the environment
	nodes bool // comma-separated host:port, for Sentinel and Cluster nodes
}

// envKeys maps GATE_* names to key paths. It is built from the koanf tags,
// not by splitting names at '_', because keys contain '_' themselves:
// GATE_ACCESS_CONTROL_DEFAULT_POLICY is access_control.default_policy.
// Keys inside lists of sections have no variable, except that a node list
// is written host:port,host:port.
var envKeys = sync.OnceValue(func() map[string]envKey {
	out := map[string]envKey{}
	add := func(k envKey) {
		name := envName(k.path)
		if _, dup := out[name]; dup {
			// Two keys such as a.b_c and a_b.c would share a variable.
			panic("config: two keys map to " + name)
		}
		out[name] = k
	}
	var walk func(path []string, t reflect.Type)
	walk = func(path []string, t reflect.Type) {
		for _, f := range fieldsOf(t) {
			p := append(slices.Clone(path), f.Tag.Get("koanf"))
			if st, ok := section(f.Type); ok {
				walk(p, st)
				continue
			}
			if f.Type == reflect.TypeFor[[]RedisNode]() {
				add(envKey{path: p, nodes: true})
				continue
			}
			if _, ok := sectionList(f.Type); ok || f.Type == reflect.TypeFor[[][]string]() {
				continue
			}
			add(envKey{path: p, list: f.Type.Kind() == reflect.Slice})
			for alias, canonical := range aliases[strings.Join(path, ".")] {
				if canonical == p[len(p)-1] {
					add(envKey{path: append(slices.Clone(path), alias)})
				}
			}
		}
	}
	walk(nil, reflect.TypeFor[Config]())
	return out
})

// envName is the variable for a key path: session.redis.password is
// GATE_SESSION_REDIS_PASSWORD.
func envName(path []string) string {
	return "GATE_" + strings.ToUpper(strings.Join(path, "_"))
}

// setPath sets m[path...] = v, creating sections on the way.
func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		sub, ok := m[k].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[k] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = v
}
