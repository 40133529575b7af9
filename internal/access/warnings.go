package access

import (
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Warning is a rule set that is valid but probably lets in requests its
// author meant to keep out. Warnings never stop gate: validate-config
// prints them and exits 0, serve logs them at start.
type Warning struct {
	// Key is the key path of the rule or regex at fault
	// (access_control.rules[1], access_control.rules[1].resources[0]).
	Key string
	// Msg is one line saying what slips through and how to fix it.
	Msg string
}

// String formats the warning as one "key: message" line.
func (w Warning) String() string { return w.Key + ": " + w.Msg }

// Warnings lists, in rule order, the two mistakes that let requests past a
// rule that was written to stop them:
//
//   - an allowing rule (bypass or one_factor) with a subject, after which no
//     rule denies the rest. A signed-in user the subject does not name is
//     not stopped by it: Decide skips the rule for them, and the next rule
//     that matches decides, often a catch-all such as
//     `*.example.com one_factor` that lets every signed-in user in. See
//     fallThrough for exactly when this is reported.
//   - a resources regex that a query takes a request out of: resources see
//     the path and the query, so '^/admin(/.*)?$' matches /admin but not
//     /admin?x=1, which a looser later rule then decides. See queryEscape.
func (r *Rules) Warnings() []Warning {
	var ws []Warning
	for i := range r.rules {
		key := fmt.Sprintf("access_control.rules[%d]", i)
		if msg, ok := r.fallThrough(i); ok {
			ws = append(ws, Warning{Key: key, Msg: msg})
		}
		for j, re := range r.rules[i].resources {
			if path, ok := queryEscape(re); ok {
				ws = append(ws, Warning{
					Key: fmt.Sprintf("%s.resources[%d]", key, j),
					Msg: fmt.Sprintf("a query takes requests out of this rule: it matches %q but not %q; use paths, which are matched without the query, or end the regex with ([?].*)?$", path, path+"?x=1"),
				})
			}
		}
	}
	return ws
}

// fallThrough reports where a signed-in user whom rule i's subject does not
// name ends up, when that lets them in. It walks the later rules in order:
//
//   - a rule with a subject is passed over: it decides only for the users it
//     names, and they are the concern of its own check;
//   - a rule that cannot match any request rule i matches (another host, a
//     disjoint path prefix, other methods or networks) is passed over;
//   - a bypass or one_factor rule that may match some of them lets those
//     in: reported;
//   - a deny rule that matches every request rule i matches (its domains
//     cover rule i's, and its paths, methods and networks are absent or
//     cover rule i's) stops them all: nothing to report;
//   - a deny rule that may match only some of them stops those; the walk
//     goes on for the rest.
//
// Past the last rule the default policy decides: deny stops them, anything
// else is reported. Rules with a deny policy are not checked: a subject on
// a deny rule is a block list, whose other users are meant to go on.
//
// "May match" errs towards yes (a regex on either side is assumed to
// overlap unless both start with different literal prefixes), so that a
// rule letting users in is not missed; "covers" errs towards no (paths
// cover only when the regexes are the same or the later one is a bare
// prefix of the other's), so that a partial deny is not taken for a whole
// one.
func (r *Rules) fallThrough(i int) (string, bool) {
	rl := &r.rules[i]
	if len(rl.subjects) == 0 || rl.policy == policyDeny {
		return "", false
	}
	const fix = "add a rule with the same domain and paths and policy deny right after this one"
	for k := i + 1; k < len(r.rules); k++ {
		later := &r.rules[k]
		if len(later.subjects) > 0 || !later.mayOverlap(rl) {
			continue
		}
		if later.policy != policyDeny {
			return fmt.Sprintf("a signed-in user its subject does not name skips this rule and is let in by access_control.rules[%d] (policy %s): %s", k, later.policy, fix), true
		}
		if later.covers(rl) {
			return "", false
		}
	}
	if r.defaultPolicy == policyDeny {
		return "", false
	}
	return fmt.Sprintf("a signed-in user its subject does not name skips this rule and is let in by access_control.default_policy %s: %s", r.defaultPolicy, fix), true
}

// mayOverlap reports whether some request could match both a and b,
// subjects aside. It answers true when it cannot tell.
func (a *rule) mayOverlap(b *rule) bool {
	return a.hostsMayOverlap(b) && a.pathsMayOverlap(b) &&
		(len(a.methods) == 0 || len(b.methods) == 0 || anyCommon(a.methods, b.methods)) &&
		(len(a.networks) == 0 || len(b.networks) == 0 || a.networksOverlap(b))
}

// covers reports whether every request that matches b, subjects aside,
// also matches a. It answers false when it cannot tell.
func (a *rule) covers(b *rule) bool {
	return a.hostsCover(b) && a.pathsCover(b) && a.methodsCover(b) && a.networksCover(b)
}

func (a *rule) hasHosts() bool { return len(a.hosts)+len(a.suffixes)+len(a.hostRegex) > 0 }

func (a *rule) hostsMayOverlap(b *rule) bool {
	if !a.hasHosts() || !b.hasHosts() {
		return true
	}
	if len(a.hostRegex) > 0 || len(b.hostRegex) > 0 {
		// A regex's hosts cannot be listed: assume they meet.
		return true
	}
	for _, h := range a.hosts {
		if b.matchesHost(h) {
			return true
		}
	}
	for _, h := range b.hosts {
		if a.matchesHost(h) {
			return true
		}
	}
	for _, s := range a.suffixes {
		for _, t := range b.suffixes {
			if strings.HasSuffix(s, t) || strings.HasSuffix(t, s) {
				return true
			}
		}
	}
	return false
}

// hostsCover reports whether a matches every host b matches.
func (a *rule) hostsCover(b *rule) bool {
	if !a.hasHosts() {
		return true
	}
	if !b.hasHosts() {
		return false
	}
	for _, h := range b.hosts {
		if !a.matchesHost(h) {
			return false
		}
	}
	for _, s := range b.suffixes {
		// Every host under *.x.example.com is under *.example.com.
		if !anyFunc(a.suffixes, func(t string) bool { return strings.HasSuffix(s, t) }) {
			return false
		}
	}
	for _, re := range b.hostRegex {
		if !anyFunc(a.hostRegex, func(x *regexp.Regexp) bool { return x.String() == re.String() }) {
			return false
		}
	}
	return true
}

// pathRegex is a resources or paths regex, with which of the two it is.
type pathRegex struct {
	re        *regexp.Regexp
	withQuery bool // resources: matched on the path and the query
}

func (a *rule) pathRegexes() []pathRegex {
	out := make([]pathRegex, 0, len(a.resources)+len(a.paths))
	for _, re := range a.resources {
		out = append(out, pathRegex{re, true})
	}
	for _, re := range a.paths {
		out = append(out, pathRegex{re, false})
	}
	return out
}

// pathsMayOverlap compares literal prefixes: a request matching a regex
// that starts with ^/admin and one matching ^/public cannot be the same,
// whether either looks at the query or not (the path is a prefix of the
// path and query, so both prefixes would start the same text).
func (a *rule) pathsMayOverlap(b *rule) bool {
	ar, br := a.pathRegexes(), b.pathRegexes()
	if len(ar) == 0 || len(br) == 0 {
		return true
	}
	for _, x := range ar {
		px, okx, _ := anchoredPrefix(x.re)
		for _, y := range br {
			py, oky, _ := anchoredPrefix(y.re)
			if !okx || !oky || strings.HasPrefix(px, py) || strings.HasPrefix(py, px) {
				return true
			}
		}
	}
	return false
}

// pathsCover reports whether each of b's path regexes is covered by one of
// a's: the same regex of the same kind, or a bare prefix (^/admin) that
// b's regex starts with. A prefix without '?' covers across kinds: a path
// starts with it exactly when the path and query do.
func (a *rule) pathsCover(b *rule) bool {
	ar, br := a.pathRegexes(), b.pathRegexes()
	if len(ar) == 0 {
		return true
	}
	if len(br) == 0 {
		return false
	}
	for _, y := range br {
		py, oky, _ := anchoredPrefix(y.re)
		covered := anyFunc(ar, func(x pathRegex) bool {
			if x.withQuery == y.withQuery && x.re.String() == y.re.String() {
				return true
			}
			px, _, bare := anchoredPrefix(x.re)
			return bare && oky && !strings.Contains(px, "?") && strings.HasPrefix(py, px)
		})
		if !covered {
			return false
		}
	}
	return true
}

func (a *rule) methodsCover(b *rule) bool {
	if len(a.methods) == 0 {
		return true
	}
	if len(b.methods) == 0 {
		return false
	}
	for _, m := range b.methods {
		if !matchesMethod(a.methods, m) {
			return false
		}
	}
	return true
}

func (a *rule) networksOverlap(b *rule) bool {
	for _, n := range a.networks {
		for _, m := range b.networks {
			if n.Overlaps(m) {
				return true
			}
		}
	}
	return false
}

func (a *rule) networksCover(b *rule) bool {
	if len(a.networks) == 0 {
		return true
	}
	if len(b.networks) == 0 {
		return false
	}
	for _, m := range b.networks {
		if !anyFunc(a.networks, func(n netip.Prefix) bool { return n.Bits() <= m.Bits() && n.Contains(m.Addr()) }) {
			return false
		}
	}
	return true
}

func anyCommon(a, b []string) bool {
	for _, x := range a {
		if matchesMethod(b, x) {
			return true
		}
	}
	return false
}

func anyFunc[T any](xs []T, f func(T) bool) bool {
	for _, x := range xs {
		if f(x) {
			return true
		}
	}
	return false
}

// anchoredPrefix returns the literal text every string re matches starts
// with, when re is anchored at the start (^ or \A). bare reports that re is
// only that, optionally followed by .*: it matches every string starting
// with prefix.
func anchoredPrefix(re *regexp.Regexp) (prefix string, anchored, bare bool) {
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return "", false, false
	}
	t = t.Simplify()
	subs := []*syntax.Regexp{t}
	if t.Op == syntax.OpConcat {
		subs = t.Sub
	}
	if len(subs) == 0 || subs[0].Op != syntax.OpBeginText {
		return "", false, false
	}
	var b strings.Builder
	n := 1
	for ; n < len(subs) && subs[n].Op == syntax.OpLiteral && subs[n].Flags&syntax.FoldCase == 0; n++ {
		b.WriteString(string(subs[n].Rune))
	}
	rest := subs[n:]
	bare = len(rest) == 0 || len(rest) == 1 && isAnyStar(rest[0])
	return b.String(), true, bare
}

// isAnyStar reports whether t is .* (with or without the s flag).
func isAnyStar(t *syntax.Regexp) bool {
	return t.Op == syntax.OpStar && (t.Sub[0].Op == syntax.OpAnyChar || t.Sub[0].Op == syntax.OpAnyCharNotNL)
}

// queryEscape reports a path that re matches and that, with a query
// added, re no longer matches. It tries the shortest text re matches
// (/admin for '^/admin(/.*)?$'); a regex whose shortest match has a '?'
// is about the query and is left alone.
func queryEscape(re *regexp.Regexp) (string, bool) {
	t, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	if !writeShortest(&b, t.Simplify()) {
		return "", false
	}
	path := b.String()
	if strings.Contains(path, "?") || !re.MatchString(path) || re.MatchString(path+"?x=1") {
		return "", false
	}
	return path, true
}

// writeShortest writes a shortest text t matches, choosing readable
// characters from classes, or reports false when it finds none.
func writeShortest(b *strings.Builder, t *syntax.Regexp) bool {
	switch t.Op {
	case syntax.OpNoMatch:
		return false
	case syntax.OpLiteral:
		b.WriteString(string(t.Rune))
	case syntax.OpCharClass:
		r, ok := classSample(t.Rune)
		if !ok {
			return false
		}
		b.WriteRune(r)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('a')
	case syntax.OpCapture, syntax.OpPlus:
		return writeShortest(b, t.Sub[0])
	case syntax.OpRepeat:
		for range t.Min {
			if !writeShortest(b, t.Sub[0]) {
				return false
			}
		}
	case syntax.OpConcat:
		for _, s := range t.Sub {
			if !writeShortest(b, s) {
				return false
			}
		}
	case syntax.OpAlternate:
		for _, s := range t.Sub {
			var alt strings.Builder
			if writeShortest(&alt, s) {
				b.WriteString(alt.String())
				return true
			}
		}
		return false
	}
	// Anchors, boundaries, empty matches, x* and x? add nothing.
	return true
}

// classSample picks a character of a class given as rune ranges,
// preferring one that reads well in a path.
func classSample(ranges []rune) (rune, bool) {
	if len(ranges) == 0 {
		return 0, false
	}
	for _, want := range "a0-/" {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= want && want <= ranges[i+1] {
				return want, true
			}
		}
	}
	return ranges[0], true
}
