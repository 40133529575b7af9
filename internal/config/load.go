package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"

	kyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// secretKeys may also be read from a file named by GATE_<KEY>_FILE, so that
// secrets can come from Docker or Kubernetes secret mounts instead of the
// environment, where they leak into process listings and crash reports.
var secretKeys = [][]string{
	{"session", "secret"},
	{"session", "redis", "password"},
	{"session", "redis", "high_availability", "sentinel_password"},
	{"session", "redis", "tls", "private_key"},
	{"session", "redis", "url"},
}

// maxSecretFile bounds a secret file, so that a wrong path (/dev/zero)
// cannot hang or exhaust the process.
const maxSecretFile = 1 << 20

// Load builds the configuration from Default(), then each file in order
// (later files override earlier ones), then GATE_* environment variables,
// then GATE_*_FILE secret files, and validates the result. getenv is
// os.Getenv in production; tests pass a map so they never touch the process
// environment.
//
// On failure the error joins one *Problem per problem found (see Problems),
// and no configuration is returned.
func Load(files []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var ps problems
	var given storeKeysGiven
	schema := reflect.TypeFor[Config]()
	k := koanf.New(".")
	layer := koanf.WithMergeFunc(func(src, dest map[string]any) error {
		normalizeLayer("", src, schema, &ps)
		given.note(src)
		mergeMaps(src, dest)
		return nil
	})

	def := Default()
	if err := k.Load(mapProvider(toMap(reflect.ValueOf(def))), nil); err != nil {
		return nil, err
	}
	filesOK := true
	for _, f := range files {
		if err := k.Load(file.Provider(f), kyaml.Parser(), layer); err != nil {
			ps = append(ps, &Problem{Msg: oneLine(fileError(f, err))})
			filesOK = false
		}
	}
	if !filesOK {
		// Without a whole file, every key it sets would be reported
		// missing as well: noise that hides the one real problem.
		return nil, ps.err()
	}
	if env := envLayer(getenv, &ps); len(env) > 0 {
		if err := k.Load(mapProvider(env), nil, layer); err != nil {
			return nil, err
		}
	}
	if sec := secretFileLayer(getenv, &ps); len(sec) > 0 {
		if err := k.Load(mapProvider(sec), nil, layer); err != nil {
			return nil, err
		}
	}

	raw := k.Raw()
	oidcSecretLayer(raw, getenv, &ps)
	expandStoreEnv(raw, getenv, &ps)
	fromURL := useRedisURL(raw, given, getenv)
	applySectionDefaults(raw)
	checkKeys("", raw, schema, &ps)

	cfg := def
	decodeErrs := decode(raw, &cfg)
	ps = append(ps, decodeErrs...)
	if fromURL {
		cfg.storeFrom = StoreFromRedisURL
	}
	var storePs problems
	cfg.applySessionStore(given, &storePs)
	ps = append(ps, storePs...)

	// A key that failed to decode has been reported already; Validate would
	// only repeat it in other words. Validate names gate's keys: they are
	// renamed to the operator's (session_store, REDIS_URL).
	failed := Problems(errors.Join(append(decodeErrs, storePs...)...))
	for _, p := range Problems(cfg.Validate()) {
		p.Key, p.Msg = cfg.OperatorKey(p.Key), cfg.operatorMessage(p.Msg)
		if !reportedUnder(failed, p.Key) {
			ps = append(ps, p)
		}
	}
	if len(ps) > 0 {
		return nil, ps.err()
	}
	return &cfg, nil
}

func reportedUnder(reported []*Problem, key string) bool {
	for _, r := range reported {
		if r.Key != "" && (key == r.Key ||
			strings.HasPrefix(key, r.Key+".") || strings.HasPrefix(key, r.Key+"[")) {
			return true
		}
	}
	return false
}

// mergeMaps merges src over dest as koanf does by default: sections merge
// key by key, anything else (lists included) is replaced whole.
func mergeMaps(src, dest map[string]any) {
	for k, v := range src {
		sv, srcIsMap := v.(map[string]any)
		dv, destIsMap := dest[k].(map[string]any)
		if srcIsMap && destIsMap {
			mergeMaps(sv, dv)
			continue
		}
		dest[k] = v
	}
}

// fileError describes an unreadable or unparsable configuration file. YAML
// errors are redacted of the document text they quote.
func fileError(name string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("configuration file %s: %v", name, pe.Err)
	}
	return fmt.Sprintf("configuration file %s: %s", name, redactYAMLError(err.Error()))
}

// envLayer reads a GATE_* variable for every key outside lists of sections.
// An empty variable counts as unset: getenv cannot tell them apart.
func envLayer(getenv func(string) string, ps *problems) map[string]any {
	out := map[string]any{}
	keys := envKeys()
	for _, name := range slices.Sorted(maps.Keys(keys)) {
		v := getenv(name)
		if v == "" {
			continue
		}
		key := keys[name]
		if key.nodes {
			setPath(out, key.path, splitNodes(v))
			continue
		}
		if key.list {
			setPath(out, key.path, splitList(v))
			continue
		}
		setPath(out, key.path, v)
	}
	return out
}

// splitList reads a comma-separated list; spaces around items are dropped.
func splitList(s string) []any {
	var out []any
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// splitNodes reads "s1:26379,[fd00::1]:26379,s3" into node mappings; a
// node without a port gets the section's default port later.
func splitNodes(s string) []any {
	var out []any
	for _, item := range splitList(s) {
		hp := item.(string)
		node := map[string]any{"host": hp}
		if host, port, err := net.SplitHostPort(hp); err == nil {
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			node["host"], node["port"] = host, port
		}
		out = append(out, node)
	}
	return out
}

// secretFileLayer reads GATE_<KEY>_FILE for each secret key. One trailing
// newline is trimmed, since editors and "echo" add one. The content is never
// put in a message, only the variable and the file's error.
func secretFileLayer(getenv func(string) string, ps *problems) map[string]any {
	out := map[string]any{}
	for _, path := range secretKeys {
		key := strings.Join(path, ".")
		direct := envName(path)
		name := direct + "_FILE"
		f := getenv(name)
		if f == "" {
			continue
		}
		if getenv(direct) != "" {
			ps.add(key, "both %s and %s are set; set only one", direct, name)
			continue
		}
		s, err := readSecretFile(f)
		if err != nil {
			ps.add(key, "%s: cannot read %s: %s", name, f, pathErr(err))
			continue
		}
		setPath(out, path, s)
	}
	return out
}

// readSecretFile reads a secret from a file of at most maxSecretFile
// bytes, without one trailing newline, since editors and "echo" add one.
func readSecretFile(name string) (string, error) {
	b, err := readLimited(name, maxSecretFile)
	if err != nil {
		return "", err
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t, nil
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// readLimited reads a whole file of at most limit bytes.
func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// pathErr is the reason of a file error without the operation and path,
// which the caller names in its own words.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// mapProvider is a koanf.Provider for a layer built in code.
type mapProvider map[string]any

func (m mapProvider) Read() (map[string]any, error) { return m, nil }

func (m mapProvider) ReadBytes() ([]byte, error) {
	return nil, errors.New("config: map provider has no bytes")
}
