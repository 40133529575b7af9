package access

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"gate/internal/config"
)

// Result is the outcome of Decide. The zero value is Forbid, so that a
// Result left unset fails closed.
type Result uint8

// Results.
const (
	// Forbid: the request may not pass (403).
	Forbid Result = iota
	// Login: the request needs an authenticated user it does not have.
	Login
	// Allow: the request may pass.
	Allow
)

// String returns "forbid", "login" or "allow", for logs and metric labels.
func (r Result) String() string {
	switch r {
	case Allow:
		return "allow"
	case Login:
		return "login"
	default:
		return "forbid"
	}
}

// Request is the original request as the proxy reported it.
type Request struct {
	Method string
	// Host may carry a port and a trailing dot; both are ignored, and case
	// does not matter.
	Host string
	// Path is the raw request target, path and query, as received: "/a/b?x=1".
	// Decide normalizes it (see NormalizePath).
	Path string
	// Client is the client address; an invalid address matches no networks.
	Client netip.Addr
}

// Subject is an authenticated user. Decide takes nil for an anonymous
// request.
type Subject struct {
	User   string
	Groups []string
}

// policy is what a rule, or the default, decides; config parses it.
type policy = config.Policy

const (
	policyDeny      = config.PolicyDeny
	policyBypass    = config.PolicyBypass
	policyOneFactor = config.PolicyOneFactor
)

// Rules is a compiled access_control section. It is immutable and safe for
// concurrent use.
type Rules struct {
	rules         []rule
	defaultPolicy policy
	// domains are the session cookies' domains: hosts outside every one
	// never receive a cookie.
	domains config.DomainSet
	// needPath is set when some rule has resources or paths, so that
	// requests are normalized only when a rule will read the path.
	needPath bool
}

// rule is one compiled rule. Empty criteria match everything.
type rule struct {
	hosts     []string         // exact, lower-cased, no trailing dot
	suffixes  []string         // ".example.com" for "*.example.com"
	hostRegex []*regexp.Regexp // domain_regex; OR'ed with hosts and suffixes
	resources []*regexp.Regexp // on the normalized path and the raw query
	paths     []*regexp.Regexp // on the normalized path alone
	methods   []string         // upper-case
	networks  []netip.Prefix   // masked, IPv4 unmapped
	subjects  [][]term         // OR of ANDs
	policy    policy
	limit     *Limit // nil without rate_limit
}

// Limit is the rate_limit of the rule that decided a request: at most
// Requests per Period per user (anonymous requests by client), or per
// client when ByClient. Rule is the rule's index, naming its counters.
type Limit struct {
	Rule     int
	Requests int
	Period   time.Duration
	ByClient bool
}

// Verdict is Judge's answer: the result, and the rate limit of the rule
// that decided it (nil when that rule, or the default policy, has none).
type Verdict struct {
	Result Result
	Limit  *Limit
	// AnyUser is set on a Login that every authenticated user would turn
	// into Allow under the same rule (a one_factor rule, or default
	// policy, without subjects): a request that authenticates with a
	// credential then need not be judged again.
	AnyUser bool
}

// AsUser is the verdict for an authenticated user of a Login verdict
// with AnyUser.
func (v Verdict) AsUser() Verdict { return Verdict{Result: Allow, Limit: v.Limit} }

// term is one "user:x" or "group:y" condition.
type term = config.SubjectTerm

// New builds the rules of ac for session cookies scoped to sessionDomains
// (session.domain, or each domain of session.cookies). The values are
// config's parse (AccessControl.Parsed), which Validate has run already: a
// validated configuration always builds, and its regexes are not compiled
// a second time. It reports every problem at once, each naming its key path
// (access_control.rules[0].networks[1]).
func New(ac config.AccessControl, sessionDomains ...string) (*Rules, error) {
	parsed, err := ac.Parsed()
	errs := []error{err}
	if len(sessionDomains) == 0 {
		errs = append(errs, errors.New("session.domain: required: the domain the session cookie is set for"))
	}
	domains := make([]string, 0, len(sessionDomains))
	for _, d := range sessionDomains {
		domain, derr := config.ParseDomain(d)
		if derr != nil {
			errs = append(errs, fmt.Errorf("session.domain: %w", derr))
		}
		domains = append(domains, domain)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r := &Rules{defaultPolicy: parsed.DefaultPolicy, domains: config.NewDomainSet(domains)}
	for i, p := range parsed.Rules {
		var limit *Limit
		if rl := p.RateLimit; rl != nil {
			limit = &Limit{Rule: i, Requests: rl.Requests, Period: time.Duration(rl.Period), ByClient: rl.ByClient}
		}
		r.rules = append(r.rules, rule{
			limit:     limit,
			hosts:     p.Hosts,
			suffixes:  p.Suffixes,
			hostRegex: p.DomainRegex,
			resources: p.Resources,
			paths:     p.Paths,
			methods:   p.Methods,
			networks:  p.Networks,
			subjects:  p.Subject,
			policy:    p.Policy,
		})
		r.needPath = r.needPath || len(p.Resources)+len(p.Paths) > 0
	}
	return r, nil
}

// Limited reports whether some rule has a rate_limit.
func (r *Rules) Limited() bool {
	for i := range r.rules {
		if r.rules[i].limit != nil {
			return true
		}
	}
	return false
}

// Decide applies the rules to req for subj (nil when anonymous).
//
// Rules are tried in order; the first whose every given criterion matches
// decides. A rule with a subject answers Login to an anonymous request,
// whatever its policy, and is skipped for an authenticated user it does not
// name. bypass allows; one_factor allows an authenticated user and asks an
// anonymous one to log in; deny forbids. Without a matching rule the default
// policy decides the same way.
//
// A host outside the session domain cannot receive the session cookie, so
// only a bypass decision lets its requests pass; anything else is Forbid,
// not Login, which would loop through the portal forever.
//
// The path is judged as NormalizePath gives it, and a path NormalizePath
// refuses is Forbid (the authz endpoints answer it 400 before asking). A
// path with a dot segment is judged twice and the stricter result wins:
// once resolved, as nginx, Go and Tomcat serve it, and once with its dot
// segments in place, as a router matching the raw path sees it (Express,
// a WSGI app's routes). /admin/../public is /public to the first and
// under /admin to the second, and gate cannot know which one is behind
// the proxy.
func (r *Rules) Decide(req Request, subj *Subject) Result {
	return r.Judge(req, subj).Result
}

// Judge is Decide, also naming the rate limit of the deciding rule. When a
// path with a dot segment is judged twice, the stricter result wins, and
// of two allowing views the limit of either applies (the resolved view's
// first): a client must not shed a limit by spelling a path with "..".
func (r *Rules) Judge(req Request, subj *Subject) Verdict {
	host := canonicalHost(req.Host)
	client := req.Client.Unmap()
	if !r.needPath {
		return r.decide(host, "", req.Method, client, subj)
	}
	target, dots, err := normalize(req.Path, true)
	if err != nil {
		return Verdict{Result: Forbid}
	}
	v := r.decide(host, target, req.Method, client, subj)
	if !dots || v.Result == Forbid {
		return v
	}
	literal, _, err := normalize(req.Path, false)
	if err != nil {
		return Verdict{Result: Forbid}
	}
	lv := r.decide(host, literal, req.Method, client, subj)
	// Forbid < Login < Allow: the smaller result is the stricter one.
	if lv.Result < v.Result {
		// The resolved view allowed; a user might find the literal one
		// allowing under a rule of another limit.
		lv.AnyUser = false
		return lv
	}
	if v.Limit == nil {
		v.Limit = lv.Limit
	}
	// Both views Login: a user passes both only if each needs no more
	// than a login, and then gets this merged limit.
	v.AnyUser = v.AnyUser && lv.AnyUser && lv.Result == v.Result
	return v
}

// decide applies the rules to one view of the request: target is its
// normalized path and query.
func (r *Rules) decide(host, target, method string, client netip.Addr, subj *Subject) Verdict {
	path, _, _ := strings.Cut(target, "?")
	res, bypass := apply(r.defaultPolicy, subj)
	// A Login from a one_factor rule without subjects (or the default)
	// holds for any user: the rules before it failed on criteria a user
	// does not change, and none of them had subjects that matched, or
	// its Login would have come first.
	anyUser := res == Login
	var limit *Limit
	for i := range r.rules {
		rl := &r.rules[i]
		if !rl.matches(host, target, path, method, client) {
			continue
		}
		if len(rl.subjects) > 0 {
			if subj == nil {
				res, bypass, anyUser = Login, false, false
				break
			}
			if !rl.admits(subj) {
				continue
			}
		}
		res, bypass = apply(rl.policy, subj)
		anyUser = res == Login
		limit = rl.limit
		break
	}
	if !bypass && !r.inDomain(host) {
		return Verdict{Result: Forbid}
	}
	return Verdict{Result: res, Limit: limit, AnyUser: anyUser}
}

// apply turns a policy into a result, and reports whether it was bypass.
func apply(p policy, subj *Subject) (Result, bool) {
	switch p {
	case policyBypass:
		return Allow, true
	case policyOneFactor:
		if subj != nil {
			return Allow, false
		}
		return Login, false
	default:
		return Forbid, false
	}
}

// matches reports whether every criterion of rl other than the subject
// holds. target is the normalized path and the raw query, path the
// normalized path alone.
func (rl *rule) matches(host, target, path, method string, client netip.Addr) bool {
	if len(rl.hosts)+len(rl.suffixes)+len(rl.hostRegex) > 0 && !rl.matchesHost(host) {
		return false
	}
	if len(rl.resources) > 0 && !anyMatch(rl.resources, target) {
		return false
	}
	if len(rl.paths) > 0 && !anyMatch(rl.paths, path) {
		return false
	}
	if len(rl.methods) > 0 && !matchesMethod(rl.methods, method) {
		return false
	}
	if len(rl.networks) > 0 && !contains(rl.networks, client) {
		return false
	}
	return true
}

func (rl *rule) matchesHost(host string) bool {
	for _, h := range rl.hosts {
		if host == h {
			return true
		}
	}
	for _, s := range rl.suffixes {
		// len(host) > len(s): "*.example.com" does not match the apex, and
		// s starts with '.', so "badexample.com" is not under it either.
		if len(host) > len(s) && strings.HasSuffix(host, s) {
			return true
		}
	}
	return anyMatch(rl.hostRegex, host)
}

// matchesMethod compares methods case-insensitively: a backend that accepts
// "delete" as DELETE must not let it slip past a rule denying DELETE.
func matchesMethod(methods []string, m string) bool {
	for _, x := range methods {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}

func contains(nets []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// admits reports whether subj satisfies one of the AND groups.
func (rl *rule) admits(subj *Subject) bool {
outer:
	for _, and := range rl.subjects {
		for _, t := range and {
			if t.Group {
				if !hasGroup(subj.Groups, t.Name) {
					continue outer
				}
			} else if subj.User != t.Name {
				continue outer
			}
		}
		return true
	}
	return false
}

func hasGroup(groups []string, g string) bool {
	for _, x := range groups {
		if x == g {
			return true
		}
	}
	return false
}

// inDomain reports whether host receives a session cookie.
func (r *Rules) inDomain(host string) bool { return r.domains.Find(host) >= 0 }

// canonicalHost lower-cases host and drops a port and one trailing dot.
// It does not allocate when host is already lower-case.
func canonicalHost(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	return strings.ToLower(host)
}
