package session

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key layout. For a session of user U with id I:
//
//	<prefix>{T}:<H>      the record; T is the user tag, H = HMAC(I)
//	<prefix>{T}:index    the per-user index: sorted set of H by deadline
//
// T is a keyed hash of U (tagBytes of HMAC-SHA256 under a key derived from
// session.secret), so no key names a user. The braces make T the Redis
// Cluster hash tag: a user's records and index share one hash slot, and
// every change is one Lua script over keys of that slot, atomic and never
// CROSSSLOT. Reading is one GET.
//
// Get knows only the id, yet must find the slot: so the id carries T.
// NewID(U) returns "T.R", R being NewID's 256 random bits. The cookie still
// holds the whole id encrypted; the record's key holds T and a keyed hash
// of the id, never the id, so a key read from Redis is no cookie. Create
// refuses an id whose tag is not its user's, so a user's index covers all
// of that user's sessions.
//
// Every key has a TTL: a record's is its deadline (the earlier of absolute
// expiry and inactivity deadline) plus ttlSlack; the index's that of its
// longest session. Expiry is judged on read against the store's clock;
// the TTL only lets Redis forget.
const (
	// tagBytes is 128 bits: distinct users must not share a tag, since
	// DeleteUser ends every session filed under it.
	tagBytes = 16
	tagLen   = 22 // base64url of tagBytes
	// hashBytes of HMAC name a record; 128 bits keep them apart.
	hashBytes = 16
	hashLen   = 22 // base64url of hashBytes
	indexName = "index"

	// ttlSlack keeps keys a little past their deadline, for gate
	// instances whose clocks run a little apart; SPEC allows a minute.
	ttlSlack = 30 * time.Second
)

// errForeignID rejects an id that was not issued by NewID for the record's
// user: filed under another user's tag, the session would escape
// DeleteUser of its own user.
var errForeignID = errors.New("session: id was not issued for this user by the store's NewID")

// The scripts share this prelude. header reads the clear fields of a
// record (see redis_record.go), nil when absent or unreadable; deadline is
// Session.Deadline in milliseconds; expire_index gives the index the TTL
// of its longest session.
const luaPrelude = `
local function header(key)
  local h = redis.call('GETRANGE', key, 0, 48)
  if string.len(h) ~= 49 or string.sub(h, 1, 1) ~= '1' then return nil end
  local a = tonumber(string.sub(h, 2, 17))
  local e = tonumber(string.sub(h, 18, 33))
  local i = tonumber(string.sub(h, 34, 49))
  if not a or not e or not i then return nil end
  return a, e, i
end
local function deadline(a, e, i)
  if i > 0 and a + i < e then return a + i end
  return e
end
local function expire_index(index, now, slack)
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIRE', index, math.max(1, tonumber(last[2]) - now + slack))
  end
end
`

var (
	// createScript stores a record unless a live one holds the key (0),
	// and files it in the index, dropping index entries that have ended.
	// KEYS: record, index. ARGV: value, member, now, deadline, slack.
	createScript = redis.NewScript(luaPrelude + `
local now, dl, slack = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local a, e, i = header(KEYS[1])
if a and now < deadline(a, e, i) then return 0 end
if dl <= now then return 1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', dl - now + slack)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], dl, ARGV[2])
expire_index(KEYS[2], now, slack)
return 1
`)

	// touchScript moves the activity forward in place, and the record's
	// TTL and index score with it; 0 when the session has ended.
	// KEYS: record, index. ARGV: member, now, activity field, slack.
	touchScript = redis.NewScript(luaPrelude + `
local now, slack = tonumber(ARGV[2]), tonumber(ARGV[4])
local a, e, i = header(KEYS[1])
if not a then return 0 end
if now >= deadline(a, e, i) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
local t = tonumber(ARGV[3])
if t <= a then return 1 end
local dl = deadline(t, e, i)
redis.call('SETRANGE', KEYS[1], 1, ARGV[3])
redis.call('PEXPIRE', KEYS[1], dl - now + slack)
redis.call('ZADD', KEYS[2], dl, ARGV[1])
expire_index(KEYS[2], now, slack)
return 1
`)

	// deleteScript removes a record and its index entry.
	// KEYS: record, index. ARGV: member.
	deleteScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

	// deleteUserScript removes every record the index names, and the
	// index, and counts the records removed that were live. The record
	// keys are built here from the index, so the whole revocation is one
	// atomic step; they share the index's hash tag, hence its slot.
	// KEYS: index. ARGV: record key prefix ("<prefix>{T}:"), now.
	deleteUserScript = redis.NewScript(`
local now = tonumber(ARGV[2])
local m = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local n = 0
for j = 1, #m, 2 do
  if redis.call('DEL', ARGV[1] .. m[j]) == 1 and tonumber(m[j + 1]) > now then n = n + 1 end
end
redis.call('DEL', KEYS[1])
return n
`)
)

// RedisOptions configures NewRedis.
type RedisOptions struct {
	// RecordKey (AES-256) seals records; NameKey keys the HMAC that names
	// a user's keys (keys.Set's RecordCipher and KeyHash). Instances
	// sharing a Redis share them, through session.secret.
	RecordKey, NameKey []byte
	// Prefix is session.redis.session_prefix; it must not contain braces,
	// which would change the hash slots.
	Prefix string
	// Name describes the connection in errors, such as
	// `redis sentinel "mymaster" via s1:26379`; it must hold no password.
	// Default "redis".
	Name string
	// Now is the clock expiry is judged against; default time.Now.
	Now func() time.Time
	// PoolSize is the client's connection pool size (per node); as many
	// workers batch concurrent reads. 0 means go-redis's default.
	PoolSize int
	// Timeout bounds each call, dial, pool wait, write and read together
	// (session.redis.timeout), so that a frozen Redis holds a decision no
	// longer; 0 leaves the bounds to the client's own timeouts. The client
	// must honour context deadlines (ContextTimeoutEnabled, as redisconn
	// sets it).
	Timeout time.Duration
}

// Redis is a Store in Redis, shared by every gate instance that uses the
// same Redis, prefix and secret: sessions survive restarts, and a login
// or logout on one instance holds on all at once.
//
// The common path, Get, is one GET, pipelined with the GETs of concurrent
// decisions (see getBatcher). Touch, Create, Delete and DeleteUser
// are one script each (EVALSHA). Any Redis failure is returned as an
// error, never as ErrNotFound, so callers fail closed.
type Redis struct {
	client  redis.UniversalClient
	name    string
	prefix  string
	timeout time.Duration
	now     func() time.Time
	cipher  *recordCipher
	gets    *getBatcher // nil for a cluster
	// macs holds *macState under the key-hash key, so that hashing a
	// key name allocates nothing.
	macs sync.Pool

	closed    atomic.Bool
	closeOnce sync.Once
}

var _ Store = (*Redis)(nil)

// NewRedis returns a store on client. The store owns the client: Close
// closes it. It does not connect; see Ping.
func NewRedis(client redis.UniversalClient, opts RedisOptions) (*Redis, error) {
	if client == nil {
		return nil, errors.New("session: redis store without a client")
	}
	if opts.Prefix == "" || strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("session: redis key prefix %q: must be set and contain no braces", opts.Prefix)
	}
	c, err := newRecordCipher(opts.RecordKey)
	if err != nil {
		return nil, err
	}
	if len(opts.NameKey) < 32 {
		return nil, errors.New("session: redis key-name key must be at least 32 bytes")
	}
	r := &Redis{
		client:  client,
		name:    opts.Name,
		prefix:  opts.Prefix,
		timeout: opts.Timeout,
		now:     opts.Now,
		cipher:  c,
	}
	if _, cluster := client.(*redis.ClusterClient); !cluster {
		r.gets = newGetBatcher(client, opts.PoolSize, opts.Timeout)
	}
	r.macs.New = func() any { return &macState{mac: hmac.New(sha256.New, opts.NameKey)} }
	if r.name == "" {
		r.name = "redis"
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// macState is an HMAC and the buffers it works in.
type macState struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
}

// appendKeyedHash appends to dst the base64url of the first n bytes of
// HMAC(label || 0 || v). The label keeps user tags and id hashes apart.
func (r *Redis) appendKeyedHash(dst []byte, label, v string, n int) []byte {
	m := r.macs.Get().(*macState)
	m.in = append(append(append(m.in[:0], label...), 0), v...)
	m.mac.Reset()
	m.mac.Write(m.in)
	dst = base64.RawURLEncoding.AppendEncode(dst, m.mac.Sum(m.sum[:0])[:n])
	r.macs.Put(m)
	return dst
}

func (r *Redis) userTag(user string) string {
	var b [tagLen]byte
	return string(r.appendKeyedHash(b[:0], "user", user, tagBytes))
}

// member is what the index holds for a session, and the last part of its
// record's key.
func (r *Redis) member(id string) string {
	var b [hashLen]byte
	return string(r.appendKeyedHash(b[:0], "id", id, hashBytes))
}

// recordKey is slotPrefix(tag) + member(id), built in one allocation for
// the hot path.
func (r *Redis) recordKey(tag, id string) string {
	var sb strings.Builder
	sb.Grow(len(r.prefix) + len(tag) + 3 + hashLen)
	sb.WriteString(r.prefix)
	sb.WriteByte('{')
	sb.WriteString(tag)
	sb.WriteString("}:")
	var b [hashLen]byte
	sb.Write(r.appendKeyedHash(b[:0], "id", id, hashBytes))
	return sb.String()
}

// slotPrefix is the common start of every key of a user tag.
func (r *Redis) slotPrefix(tag string) string {
	return r.prefix + "{" + tag + "}:"
}

// splitID returns the user tag of an id from NewID. ok is false for
// anything else, which no store holds.
func splitID(id string) (tag string, ok bool) {
	if len(id) < tagLen+1+43 || id[tagLen] != '.' {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isBase64URL(c) && i != tagLen {
			return "", false
		}
	}
	return id[:tagLen], true
}

func isBase64URL(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func (r *Redis) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.closed.Load() {
		return errClosed
	}
	return nil
}

// fail wraps a Redis error with the operation and the connection. The
// caller's own cancellation stays what it is; anything else is
// ErrUnavailable.
func (r *Redis) fail(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("session: redis %s: %s: %w", op, r.name, err)
	}
	return fmt.Errorf("%w: redis %s: %s: %w", ErrUnavailable, op, r.name, err)
}

// bound gives one call the store's timeout: with ContextTimeoutEnabled,
// go-redis holds the pool wait, the dial, the write and the read together
// to the deadline.
func (r *Redis) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, r.timeout)
}

// NewID implements Store: the user's tag, a dot, and 256 random bits.
func (r *Redis) NewID(user string) (string, error) {
	id, err := newID()
	if err != nil {
		return "", err
	}
	return r.userTag(user) + "." + id, nil
}

// Create implements Store. The record must carry an id from NewID for
// its user.
func (r *Redis) Create(ctx context.Context, s *Session) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	tag, ok := splitID(s.ID)
	if !ok || tag != r.userTag(s.Owner()) {
		return errForeignID
	}
	member := r.member(s.ID)
	slot := r.slotPrefix(tag)
	key := slot + member
	h := headerOf(s)
	v, err := r.cipher.seal(s, h, key)
	if err != nil {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.linkProvider(ctx, s, tag, member); err != nil {
		return err
	}
	created, err := createScript.Run(ctx, r.client, []string{key, slot + indexName},
		v, member, r.now().UnixMilli(), h.deadline(), ttlSlack.Milliseconds()).Int64()
	if err != nil {
		return r.fail("create", err)
	}
	if created == 0 {
		return ErrExists
	}
	return nil
}

// Get implements Store: one GET. Each call returns a fresh record.
func (r *Redis) Get(ctx context.Context, id string) (*Session, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	tag, ok := splitID(id)
	if !ok {
		return nil, ErrNotFound
	}
	key := r.recordKey(tag, id)
	var v string
	var err error
	if r.gets != nil {
		v, err = r.gets.get(ctx, key)
	} else {
		bctx, cancel := r.bound(ctx)
		v, err = r.client.Get(bctx, key).Result()
		cancel()
	}
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, r.fail("get", err)
	}
	h, ok := parseHeader(v)
	if !ok {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, errRecord)
	}
	if r.now().UnixMilli() >= h.deadline() {
		return nil, ErrNotFound
	}
	s, err := r.cipher.open(v, key, id, h)
	if err != nil {
		// Tampered, truncated or sealed under another secret: as good as
		// absent, and never a session.
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return s, nil
}

// Touch implements Store: one script moves the activity, the record's TTL
// and its index entry.
func (r *Redis) Touch(ctx context.Context, id string, t time.Time) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	tag, ok := splitID(id)
	if !ok {
		return ErrNotFound
	}
	member := r.member(id)
	slot := r.slotPrefix(tag)
	ctx, cancel := r.bound(ctx)
	defer cancel()
	live, err := touchScript.Run(ctx, r.client, []string{slot + member, slot + indexName},
		member, r.now().UnixMilli(), activityField(t), ttlSlack.Milliseconds()).Int64()
	if err != nil {
		return r.fail("touch", err)
	}
	if live == 0 {
		return ErrNotFound
	}
	return nil
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, id string) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	tag, ok := splitID(id)
	if !ok {
		return nil
	}
	member := r.member(id)
	slot := r.slotPrefix(tag)
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := deleteScript.Run(ctx, r.client, []string{slot + member, slot + indexName}, member).Err(); err != nil {
		return r.fail("delete", err)
	}
	return nil
}

// DeleteUser implements Store: one atomic script ends every session filed
// under the user's tag.
func (r *Redis) DeleteUser(ctx context.Context, user string) (int, error) {
	if err := r.check(ctx); err != nil {
		return 0, err
	}
	slot := r.slotPrefix(r.userTag(user))
	ctx, cancel := r.bound(ctx)
	defer cancel()
	n, err := deleteUserScript.Run(ctx, r.client, []string{slot + indexName}, slot, r.now().UnixMilli()).Int()
	if err != nil {
		return 0, r.fail("delete user", err)
	}
	return n, nil
}

// Ping implements Store: Redis answers PING.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.check(ctx); err != nil {
		return err
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return r.fail("ping", err)
	}
	return nil
}

// Close implements Store: it closes the client, and with it everything
// else built on the client (the regulation counters).
func (r *Redis) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		if r.gets != nil {
			r.gets.close()
		}
		if cerr := r.client.Close(); cerr != nil {
			err = fmt.Errorf("session: close %s: %w", r.name, cerr)
		}
	})
	return err
}
