package session

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Provider sessions (signed in through an OpenID Connect provider) are
// also filed under their provider subject and, when the provider gave one,
// their sid, so that a back-channel logout, which names only those, finds
// them:
//
//	<prefix>{P}:oidc     sorted set of "T:H" by absolute expiry
//
// P is a keyed hash of the provider id and the subject (label "oidc-sub")
// or the sid ("oidc-sid"), so no key names a provider user; T:H names the
// record <prefix>{T}:H. The index has its own hash slot, and each script
// below touches the keys of one slot only, so nothing is CROSSSLOT on
// Cluster: the index is read in its slot, and each session is then ended
// in its user's slot, record and per-user index together. Scores are the
// absolute expiry, which activity never moves, so Touch need not update
// the index; its TTL is that of its longest session.
const providerIndexName = "oidc"

var (
	// linkScript files a session in a provider index, dropping entries
	// whose session has ended.
	// KEYS: provider index. ARGV: member "T:H", now, expiry, slack.
	linkScript = redis.NewScript(luaPrelude + `
local now, e, slack = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], e, ARGV[1])
expire_index(KEYS[1], now, slack)
return 1
`)

	// endScript removes a record and its per-user index entry, and
	// reports whether the record was there.
	// KEYS: record, user index. ARGV: member H.
	endScript = redis.NewScript(`
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return n
`)
)

// providerIndexKey is the key of the index of a provider subject or sid.
func (r *Redis) providerIndexKey(kind, provider, v string) string {
	var b [tagLen]byte
	tag := string(r.appendKeyedHash(b[:0], "oidc-"+kind, provider+"\x00"+v, tagBytes))
	return r.slotPrefix(tag) + providerIndexName
}

// linkProvider files s, a provider session with id tag T and record
// member H, under its subject and sid. It runs before the record is
// written: a back-channel logout that reads the index meanwhile finds an
// entry whose record is not there yet, rather than missing a session that
// is.
func (r *Redis) linkProvider(ctx context.Context, s *Session, tag, member string) error {
	if s.Provider == "" {
		return nil
	}
	keys := []string{r.providerIndexKey("sub", s.Provider, s.Subject)}
	if s.SID != "" {
		keys = append(keys, r.providerIndexKey("sid", s.Provider, s.SID))
	}
	now := r.now().UnixMilli()
	for _, k := range keys {
		err := linkScript.Run(ctx, r.client, []string{k}, tag+":"+member, now, s.ExpiresAt.UnixMilli(), ttlSlack.Milliseconds()).Err()
		if err != nil {
			return r.fail("link provider session", err)
		}
	}
	return nil
}

// DeleteProvider implements Store: the index is read in its slot, and
// each session it names is ended in its own, then taken off the index. A
// session filed after the read survives; it began after the logout.
func (r *Redis) DeleteProvider(ctx context.Context, provider, subject, sid string) (int, error) {
	if err := r.check(ctx); err != nil {
		return 0, err
	}
	key := r.providerIndexKey("sub", provider, subject)
	if sid != "" {
		key = r.providerIndexKey("sid", provider, sid)
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	members, err := r.client.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		return 0, r.fail("delete provider sessions", err)
	}
	n := 0
	for _, m := range members {
		tag, h, ok := splitProviderMember(m)
		if ok {
			slot := r.slotPrefix(tag)
			ended, err := endScript.Run(ctx, r.client, []string{slot + h, slot + indexName}, h).Int()
			if err != nil {
				return n, r.fail("delete provider sessions", err)
			}
			n += ended
		}
		if err := r.client.ZRem(ctx, key, m).Err(); err != nil {
			return n, r.fail("delete provider sessions", err)
		}
	}
	return n, nil
}

// splitProviderMember reads "T:H" as linkProvider wrote it.
func splitProviderMember(m string) (tag, member string, ok bool) {
	if len(m) != tagLen+1+hashLen || m[tagLen] != ':' {
		return "", "", false
	}
	for i := 0; i < len(m); i++ {
		if i != tagLen && !isBase64URL(m[i]) {
			return "", "", false
		}
	}
	return m[:tagLen], m[tagLen+1:], true
}
