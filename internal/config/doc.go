// Package config owns gate's configuration: the schema (Config and its
// sections), the defaults, loading and layering (YAML files with koanf,
// GATE_* environment variables, GATE_*_FILE secret files), and validation.
//
// Everything that can be known to be wrong without the network is reported
// by Load, all at once, each problem on one line naming the key path to
// change, and never quoting a secret. Whether Redis answers, and what the
// users file says, belong to the session store and the users package; this
// package only checks that the users file can be opened.
//
// # One parser per value
//
// Each value has one parser, here, and Validate reports what that parser
// refuses; the packages that use a value call the same parser, or take
// its result, and trust it. A value is therefore read the same way when
// it is checked and when it is used, and a configuration Validate accepts
// is one every constructor accepts:
//
//   - durations: ParseDuration;
//   - listen address and networks: ParseAddress, ParsePrefix,
//     Server.TrustedPrefixes;
//   - domains: ParseDomain (session.domain), ParseRuleDomain, and
//     WithinDomain, the one "is this host under the session domain"
//     (portal, access rules, login redirects);
//   - methods and cookie names: IsToken, the RFC 9110 token check, and
//     ParseMethod;
//   - the session cookie's name, domain and SameSite against the cookie
//     prefix rules browsers apply: SessionCookie.Check, which cookie.New
//     runs too;
//   - the access rules, regexes included: AccessControl.Parsed, which
//     Validate fills so that each regex is compiled once;
//   - the Redis section, its URL forms and TLS: ParseRedisURL and
//     Redis.Endpoint, from which the Redis client is built;
//   - portal URLs: ParseSiteURL.
//
// Imports go one way: package config imports no other gate package, and
// access, cookie, http, redisconn and regulation import config. A check
// that needs another package's knowledge is therefore written here and
// called from there, never the reverse.
package config
