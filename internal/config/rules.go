package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Policy is what a rule, or the default, decides.
type Policy uint8

// Policies. The zero value is PolicyDeny, so that a policy left unset
// fails closed.
const (
	PolicyDeny Policy = iota
	PolicyBypass
	PolicyOneFactor
)

// String returns the policy's configuration name.
func (p Policy) String() string {
	switch p {
	case PolicyBypass:
		return "bypass"
	case PolicyOneFactor:
		return "one_factor"
	default:
		return "deny"
	}
}

// ParsePolicy parses a policy name: deny, bypass or one_factor.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "deny":
		return PolicyDeny, nil
	case "bypass":
		return PolicyBypass, nil
	case "one_factor":
		return PolicyOneFactor, nil
	case "":
		return PolicyDeny, fmt.Errorf("required: deny, bypass or one_factor")
	case "two_factor":
		return PolicyDeny, fmt.Errorf("two_factor is not supported: gate has one factor; use one_factor")
	}
	return PolicyDeny, fmt.Errorf("must be deny, bypass or one_factor, got %q", s)
}

// SubjectTerm is one "user:NAME" or "group:NAME" condition of a subject.
type SubjectTerm struct {
	Group bool
	Name  string
}

// ParseSubjectTerm parses "user:NAME" or "group:NAME".
func ParseSubjectTerm(s string) (SubjectTerm, error) {
	kind, name, _ := strings.Cut(s, ":")
	if (kind != "user" && kind != "group") || strings.TrimSpace(name) == "" {
		return SubjectTerm{}, fmt.Errorf("must be user:NAME or group:NAME, got %q", s)
	}
	return SubjectTerm{Group: kind == "group", Name: name}, nil
}

// ParsedRule is one access rule with every criterion in the form it is
// matched in. An empty criterion matches everything.
type ParsedRule struct {
	// Hosts are exact host names: lower-case, no trailing dot.
	Hosts []string
	// Suffixes are the wildcards: ".example.com" for "*.example.com".
	Suffixes []string
	// DomainRegex is OR'ed with Hosts and Suffixes.
	DomainRegex []*regexp.Regexp
	// Resources match the normalized path and the raw query.
	Resources []*regexp.Regexp
	// Paths match the normalized path alone.
	Paths []*regexp.Regexp
	// Methods are upper-case RFC 9110 tokens.
	Methods []string
	// Networks are masked, IPv4 unmapped.
	Networks []netip.Prefix
	// Subject is an OR of ANDs.
	Subject [][]SubjectTerm
	Policy  Policy
	// RateLimit is nil for a rule without a limit.
	RateLimit *ParsedRateLimit
}

// ParsedRateLimit is a rule's rate_limit: at most Requests per Period,
// counted per client address when ByClient, else per user (anonymous
// requests by client).
type ParsedRateLimit struct {
	Requests int
	Period   Duration
	ByClient bool
}

// parseRateLimit parses the rate_limit section at key. A limit of zero
// requests or a zero period would refuse or admit everything, so both
// must be positive.
func parseRateLimit(ps *problems, key string, r RateLimit) (*ParsedRateLimit, bool) {
	n := len(*ps)
	if r.Requests <= 0 {
		ps.add(key+".requests", "must be positive, got %d", r.Requests)
	}
	positive(ps, key+".period", r.Period)
	p := &ParsedRateLimit{Requests: r.Requests, Period: r.Period}
	switch r.By {
	case "", "user":
	case "client":
		p.ByClient = true
	default:
		ps.add(key+".by", "must be user or client, got %q", r.By)
	}
	return p, len(*ps) == n
}

// ParsedAccessControl is access_control, parsed.
type ParsedAccessControl struct {
	DefaultPolicy Policy
	Rules         []ParsedRule
}

// Parsed returns the rules in the form they are matched in. Validate
// parses each rule and keeps the result in it, so that every regex is
// compiled once, by the parser that checked it; a rule Validate has not
// seen, or one changed since, is parsed here. The error joins one Problem
// per mistake, each naming its key path
// (access_control.rules[0].networks[1]).
func (ac AccessControl) Parsed() (*ParsedAccessControl, error) {
	var ps problems
	p := ac.parse(&ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// parsedRule is what Validate made of a Rule, with a copy of the rule it
// was made from: a rule changed after Validate is parsed again rather than
// matched with criteria it no longer states.
type parsedRule struct {
	from   Rule
	result ParsedRule
}

// cached returns the kept result when r still says what it was parsed from.
func (r *Rule) cached() (ParsedRule, bool) {
	if r.parsed == nil {
		return ParsedRule{}, false
	}
	now := *r
	now.parsed = nil
	return r.parsed.result, reflect.DeepEqual(r.parsed.from, now)
}

// clone copies r deeply enough that later changes to r are seen.
func (r Rule) clone() Rule {
	out := Rule{
		Domain: slices.Clone(r.Domain), DomainRegex: slices.Clone(r.DomainRegex),
		Resources: slices.Clone(r.Resources), Paths: slices.Clone(r.Paths),
		Methods: slices.Clone(r.Methods), Networks: slices.Clone(r.Networks),
		Policy: r.Policy,
	}
	if r.RateLimit != nil {
		rl := *r.RateLimit
		out.RateLimit = &rl
	}
	for _, and := range r.Subject {
		out.Subject = append(out.Subject, slices.Clone(and))
	}
	return out
}

// validateAccessControl parses access_control and reports its problems.
// Each rule without problems gets its canonical spelling (methods
// upper-cased, domains lower-cased without a trailing dot) and keeps its
// parsed form for Parsed.
func (c *Config) validateAccessControl(ps *problems) {
	ac := &c.AccessControl
	if _, err := ParsePolicy(ac.DefaultPolicy); err != nil {
		ps.add("access_control.default_policy", "%v", err)
	}
	for i := range ac.Rules {
		r := &ac.Rules[i]
		key := indexKey("access_control.rules", i)
		r.parsed = nil
		// A rule that names no host would apply to every site behind the
		// proxy: a configuration asks for one explicitly (Authelia's rule).
		// The rules themselves match everything on an empty criterion.
		if len(r.Domain) == 0 && len(r.DomainRegex) == 0 {
			ps.add(key, "needs domain or domain_regex")
		}
		n := len(*ps)
		p := parseRule(ps, key, r)
		if len(*ps) > n {
			continue
		}
		r.canonicalize(p)
		r.parsed = &parsedRule{from: r.clone(), result: p}
	}
}

func (r *Rule) canonicalize(p ParsedRule) {
	for j, d := range r.Domain {
		host, wildcard, _ := ParseRuleDomain(d)
		if wildcard {
			host = "*." + host
		}
		r.Domain[j] = host
	}
	copy(r.Methods, p.Methods)
}

// parse parses every rule, reporting each problem with its key path.
func (ac AccessControl) parse(ps *problems) *ParsedAccessControl {
	out := &ParsedAccessControl{Rules: make([]ParsedRule, len(ac.Rules))}
	var err error
	if out.DefaultPolicy, err = ParsePolicy(ac.DefaultPolicy); err != nil {
		ps.add("access_control.default_policy", "%v", err)
	}
	for i := range ac.Rules {
		r := &ac.Rules[i]
		if p, ok := r.cached(); ok {
			out.Rules[i] = p
			continue
		}
		out.Rules[i] = parseRule(ps, indexKey("access_control.rules", i), r)
	}
	return out
}

func parseRule(ps *problems, key string, r *Rule) ParsedRule {
	var p ParsedRule
	for j, d := range r.Domain {
		host, wildcard, err := ParseRuleDomain(d)
		switch {
		case err != nil:
			ps.add(indexKey(key+".domain", j), "%v", err)
		case wildcard:
			p.Suffixes = append(p.Suffixes, "."+host)
		default:
			p.Hosts = append(p.Hosts, host)
		}
	}
	p.DomainRegex = compileAll(ps, key+".domain_regex", r.DomainRegex)
	p.Resources = compileAll(ps, key+".resources", r.Resources)
	p.Paths = compileAll(ps, key+".paths", r.Paths)
	for j, s := range r.Methods {
		m, err := ParseMethod(s)
		if err != nil {
			ps.add(indexKey(key+".methods", j), "%v", err)
			continue
		}
		p.Methods = append(p.Methods, m)
	}
	for j, s := range r.Networks {
		n, err := ParsePrefix(s)
		if err != nil {
			ps.add(indexKey(key+".networks", j), "%v", err)
			continue
		}
		p.Networks = append(p.Networks, n)
	}
	p.Subject = parseSubject(ps, key+".subject", r.Subject)
	if r.RateLimit != nil {
		if rl, ok := parseRateLimit(ps, key+".rate_limit", *r.RateLimit); ok {
			p.RateLimit = rl
		}
	}
	var err error
	if p.Policy, err = ParsePolicy(r.Policy); err != nil {
		ps.add(key+".policy", "%v", err)
	}
	return p
}

// compileAll compiles the regexes of the list at key.
func compileAll(ps *problems, key string, list []string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for j, s := range list {
		re, err := regexp.Compile(s)
		if err != nil {
			ps.add(indexKey(key, j), "invalid regex: %v", err)
			continue
		}
		out = append(out, re)
	}
	return out
}

func parseSubject(ps *problems, key string, subject [][]string) [][]SubjectTerm {
	var out [][]SubjectTerm
	for j, and := range subject {
		gk := indexKey(key, j)
		if len(and) == 0 {
			ps.add(gk, "empty subject: write user:NAME or group:NAME")
			continue
		}
		terms := make([]SubjectTerm, 0, len(and))
		for k, s := range and {
			t, err := ParseSubjectTerm(s)
			if err != nil {
				ps.add(indexKey(gk, k), "%v", err)
				continue
			}
			terms = append(terms, t)
		}
		out = append(out, terms)
	}
	return out
}
