package users

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// User is what the rest of gate learns about a user. It deliberately has no
// password hash, so that logging or serialising a User cannot leak one.
type User struct {
	Name        string
	DisplayName string
	Email       string
	// Groups is shared with the loaded snapshot: callers must not modify its
	// elements (appending is safe, its capacity is clipped).
	Groups   []string
	Disabled bool
	// Stamp changes whenever the user's password hash does: a session
	// records it at login and ends when it no longer matches (revocation by
	// a new password). It is a one-way digest of the hash, and reveals
	// nothing of it.
	Stamp string

	// groupList is Groups joined, computed once at load: every allowed
	// decision sends it.
	groupList string
}

// GroupList returns the groups joined with commas, as Remote-Groups carries
// them.
func (u User) GroupList() string {
	if u.groupList == "" && len(u.Groups) > 0 {
		return strings.Join(u.Groups, ",")
	}
	return u.groupList
}

// entry is one user of a snapshot with its parsed hash.
type entry struct {
	user User
	hash verifier
}

// snapshot is one successfully parsed users file. It is never modified after
// it is published, so readers need no lock.
type snapshot struct {
	users map[string]entry
	// kinds holds one hash of each kind (verifier.shape) in the file, or
	// the default argon2id for an empty file: every check is padded to the
	// time of the slowest of them.
	kinds map[string]verifier
	// dummy is verified for unknown users so that they cost what a real user
	// costs (user enumeration by timing). It is of the slowest kind in the
	// file; checker.prepare sets it.
	dummy verifier
	// tokens maps the users-file hash of each API token (TokenHash) to
	// its owner.
	tokens map[string]tokenEntry
	// folded holds every user name folded (foldName), disabled users
	// included: a provider's unlinked user may carry none of them.
	folded map[string]struct{}
}

// userKeys are the keys a user may have, as in Authelia's users file.
var userKeys = []string{"displayname", "password", "email", "groups", "disabled", "tokens"}

// parse parses and validates a whole users file. It reports every problem at
// once, each prefixed with the file name and the key path; no message
// contains a password hash.
func parse(path string, data []byte) (*snapshot, error) {
	errs := &problems{path: path}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, errs.add("", "", flatten(err)).err()
	}
	for _, k := range sortedKeys(top) {
		if k != "users" {
			n := top[k]
			errs.add(k, lineOf(&n), errors.New("unknown key"))
		}
	}
	un, ok := top["users"]
	if !ok {
		errs.add("users", "", errors.New("missing"))
		return nil, errs.err()
	}
	var raw map[string]*yaml.Node
	switch u := resolve(&un); {
	case u.Kind == yaml.ScalarNode && u.ShortTag() == "!!null":
		// "users:" with nothing under it: an empty database.
	case u.Kind != yaml.MappingNode:
		errs.add("users", lineOf(u), errors.New("must be a map of user names"))
	default:
		raw = userNodes(errs, u)
	}

	s := &snapshot{users: make(map[string]entry, len(raw)), kinds: make(map[string]verifier), tokens: map[string]tokenEntry{}, folded: make(map[string]struct{}, len(raw))}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names) // report problems in a stable order
	for _, name := range names {
		e, ok := parseUser(errs, name, raw[name], s.tokens)
		if !ok {
			continue
		}
		s.users[name] = e
		s.folded[foldName(name)] = struct{}{}
		if sh := e.hash.shape(); s.kinds[sh] == nil {
			s.kinds[sh] = e.hash
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if len(s.kinds) == 0 {
		d, err := defaultDummy()
		if err != nil {
			return nil, fmt.Errorf("users file %s: dummy hash: %w", path, err)
		}
		s.kinds[d.shape()] = d
	}
	return s, nil
}

// userNodes maps the user names of the users mapping u to their nodes. It
// walks the mapping itself because yaml's Decode checks every key against
// every other for duplicates: a file of 100 000 users took minutes. A
// mapping that merges another (<<) is left to Decode, which implements
// merges.
func userNodes(errs *problems, u *yaml.Node) map[string]*yaml.Node {
	nodes := make(map[string]*yaml.Node, len(u.Content)/2)
	keyLine := make(map[string]int, len(u.Content)/2)
	for i := 0; i+1 < len(u.Content); i += 2 {
		k := resolve(u.Content[i])
		if k.ShortTag() == "!!merge" {
			return decodedUserNodes(errs, u)
		}
		var name string
		if err := k.Decode(&name); err != nil || k.Kind != yaml.ScalarNode {
			errs.add("users", lineOf(k), errors.New("user names must be strings"))
			continue
		}
		if first, dup := keyLine[name]; dup {
			errs.add("users."+name, lineOf(k), fmt.Errorf("already defined at line %d", first))
			continue
		}
		nodes[name], keyLine[name] = u.Content[i+1], k.Line
	}
	return nodes
}

func decodedUserNodes(errs *problems, u *yaml.Node) map[string]*yaml.Node {
	var decoded map[string]yaml.Node
	if err := u.Decode(&decoded); err != nil {
		errs.add("users", "", flatten(err))
		return nil
	}
	nodes := make(map[string]*yaml.Node, len(decoded))
	for name, n := range decoded {
		nodes[name] = &n
	}
	return nodes
}

// parseUser parses one user; problems go to errs.
func parseUser(errs *problems, name string, n *yaml.Node, tokens map[string]tokenEntry) (entry, bool) {
	key := "users." + name
	before := len(errs.list)
	if strings.TrimSpace(name) == "" {
		errs.add("users", lineOf(n), errors.New("user name must not be empty"))
	} else if hasControl(name) || strings.TrimSpace(name) != name {
		errs.add(key, lineOf(n), errors.New("user name must not contain control characters or surrounding spaces"))
	}
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		errs.add(key, lineOf(n), errors.New("must be a map with password and optional displayname, email, groups, disabled"))
		return entry{}, false
	}
	var fields map[string]yaml.Node
	if err := n.Decode(&fields); err != nil {
		errs.add(key, lineOf(n), flatten(err))
		return entry{}, false
	}
	e := entry{user: User{Name: name}}
	for _, k := range sortedKeys(fields) {
		if !slices.Contains(userKeys, k) {
			v := fields[k]
			errs.add(key+"."+k, lineOf(&v), errors.New("unknown key"))
		}
	}

	pw, ok := fields["password"]
	switch p := resolve(&pw); {
	case !ok:
		errs.add(key+".password", lineOf(n), errors.New("missing"))
	case p.Kind != yaml.ScalarNode || p.Value == "":
		// Never decode this node with yaml: its error would quote the value.
		errs.add(key+".password", lineOf(p), errors.New("must be a password hash"))
	default:
		h, err := parseHash(p.Value)
		if err != nil {
			errs.add(key+".password", lineOf(p), err)
		}
		e.hash = h
		e.user.Stamp = stamp(p.Value)
	}

	stringField(errs, fields, key, "displayname", &e.user.DisplayName)
	stringField(errs, fields, key, "email", &e.user.Email)
	if g, ok := fields["groups"]; ok {
		if err := g.Decode(&e.user.Groups); err != nil {
			errs.add(key+".groups", lineOf(&g), errors.New("must be a list of group names"))
		}
		for i, name := range e.user.Groups {
			// Remote-Groups joins groups with commas: a comma inside a group
			// name would let it pose as two groups to the application.
			if name == "" || strings.ContainsRune(name, ',') || hasControl(name) {
				errs.add(fmt.Sprintf("%s.groups[%d]", key, i), lineOf(&g), errors.New("group names must be non-empty, without commas or control characters"))
			}
		}
		e.user.Groups = slices.Clip(e.user.Groups)
		e.user.groupList = strings.Join(e.user.Groups, ",")
	}
	if d, ok := fields["disabled"]; ok {
		if err := d.Decode(&e.user.Disabled); err != nil {
			errs.add(key+".disabled", lineOf(&d), errors.New("must be true or false"))
		}
	}
	if tk, ok := fields["tokens"]; ok {
		parseTokens(errs, key+".tokens", name, tk, tokens)
	}
	return e, len(errs.list) == before
}

// stringField decodes an optional string field that ends up in a response
// header, so it may not carry control characters (header injection).
func stringField(errs *problems, fields map[string]yaml.Node, key, name string, dst *string) {
	n, ok := fields[name]
	if !ok {
		return
	}
	r := resolve(&n)
	if r.Kind != yaml.ScalarNode {
		errs.add(key+"."+name, lineOf(r), errors.New("must be a string"))
		return
	}
	if r.ShortTag() == "!!null" {
		return
	}
	if hasControl(r.Value) {
		errs.add(key+"."+name, lineOf(r), errors.New("must not contain control characters"))
		return
	}
	*dst = r.Value
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func lineOf(n *yaml.Node) string {
	if n == nil || n.Line == 0 {
		return ""
	}
	return fmt.Sprintf("line %d", n.Line)
}

func sortedKeys(m map[string]yaml.Node) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// flatten makes a yaml error one line: a reload failure is logged as one line.
func flatten(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	return errors.New(strings.Join(strings.Fields(msg), " "))
}

// problems collects every error of one parse.
type problems struct {
	path string
	list []string
}

func (p *problems) add(key, line string, err error) *problems {
	var b strings.Builder
	if key != "" {
		b.WriteString(key)
	}
	if line != "" {
		if key != "" {
			b.WriteByte(' ')
		}
		b.WriteString("(" + line + ")")
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(err.Error())
	p.list = append(p.list, b.String())
	return p
}

// err is nil without problems; otherwise one line naming the file and every
// problem.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ParseError{Path: p.path, Problems: slices.Clone(p.list)}
}

// ParseError lists every problem found in a users file. No problem quotes a
// password hash.
type ParseError struct {
	Path     string
	Problems []string
}

func (e *ParseError) Error() string {
	return "users file " + e.Path + ": " + strings.Join(e.Problems, "; ")
}

// stampLen is the length of a Stamp: 128 bits tell hashes apart.
const stampLen = 16

// stamp digests a password hash into a User.Stamp.
func stamp(hash string) string {
	sum := sha256.Sum256([]byte("gate users stamp\x00" + hash))
	return string(sum[:stampLen])
}
