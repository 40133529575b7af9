package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A stored record is a Redis string:
//
//	offset  0     format version '1'
//	offset  1-16  last activity, Unix milliseconds, 16 decimal digits
//	offset 17-32  absolute expiry, Unix milliseconds
//	offset 33-48  inactivity limit, milliseconds (0: none)
//	offset 49-60  AES-GCM nonce
//	offset 61-    AES-GCM ciphertext and tag of the payload
//
// The three numbers are in the clear, fixed-width, so that the Lua scripts
// can judge expiry and Touch can rewrite the activity in place (SETRANGE)
// without the key; they say nothing about who the session belongs to. The
// payload (user, display name, email, groups, login time, remember-me) is
// encrypted, so reading Redis reveals no identity.
//
// The associated data binds the ciphertext to its key name, the format
// version, the expiry and the inactivity limit: a record copied under
// another session's key, or given a later expiry, fails to open. Only the
// activity is not authenticated, because the scripts write it; someone
// able to write to Redis could move it forward, keeping an idle session
// alive at most until its absolute expiry.
const (
	recordVersion = '1'
	fieldWidth    = 16
	offActivity   = 1
	offExpires    = offActivity + fieldWidth
	offInactivity = offExpires + fieldWidth
	headerLen     = offInactivity + fieldWidth
	nonceLen      = 12

	// Field limits: 16 characters hold 15 digits and a sign.
	maxField = 9_999_999_999_999_999
	minField = -999_999_999_999_999
)

// errRecord is what a record that does not open becomes: tampered with,
// truncated, or sealed under another secret. Callers see ErrNotFound.
var errRecord = errors.New("session: stored record does not authenticate")

// header holds the clear fields of a record, in milliseconds.
type header struct {
	activity, expires, inactivity int64
}

func headerOf(s *Session) header {
	return header{
		activity:   clampField(s.LastActivity.UnixMilli()),
		expires:    clampField(s.ExpiresAt.UnixMilli()),
		inactivity: clampField(max(0, s.Inactivity.Milliseconds())),
	}
}

// deadline is Session.Deadline in milliseconds; the Lua scripts compute
// the same.
func (h header) deadline() int64 {
	return deadlineMs(h.activity, h.expires, h.inactivity)
}

func deadlineMs(activity, expires, inactivity int64) int64 {
	if inactivity > 0 && activity+inactivity < expires {
		return activity + inactivity
	}
	return expires
}

func clampField(v int64) int64 {
	return min(max(v, minField), maxField)
}

// appendField writes v in fieldWidth characters: zero-padded digits, with
// a leading '-' when negative. v is within the field limits.
func appendField(b []byte, v int64) []byte {
	var buf [fieldWidth]byte
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for i := fieldWidth - 1; i >= 0; i-- {
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		buf[0] = '-'
	}
	return append(b, buf[:]...)
}

// parseField reads what appendField wrote.
func parseField(s string) (int64, bool) {
	if len(s) != fieldWidth {
		return 0, false
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

func parseHeader(v string) (header, bool) {
	if len(v) < headerLen || v[0] != recordVersion {
		return header{}, false
	}
	a, ok1 := parseField(v[offActivity:offExpires])
	e, ok2 := parseField(v[offExpires:offInactivity])
	i, ok3 := parseField(v[offInactivity:headerLen])
	return header{a, e, i}, ok1 && ok2 && ok3
}

// activityField is the activity as the Touch script writes it.
func activityField(t time.Time) string {
	var b [fieldWidth]byte
	return string(appendField(b[:0], clampField(t.UnixMilli())))
}

// recordCipher seals and opens payloads.
type recordCipher struct {
	aead cipher.AEAD
}

func newRecordCipher(key []byte) (*recordCipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session: record cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session: record cipher: %w", err)
	}
	return &recordCipher{aead: aead}, nil
}

// additionalData is what the tag covers besides the payload: version,
// expiry and inactivity fields, and the key name.
func additionalData(v string, key string) []byte {
	ad := make([]byte, 0, 1+2*fieldWidth+len(key))
	ad = append(ad, v[0])
	ad = append(ad, v[offExpires:headerLen]...)
	return append(ad, key...)
}

// seal returns the stored value of s under key.
// h is headerOf(s).
func (c *recordCipher) seal(s *Session, h header, key string) ([]byte, error) {
	v := make([]byte, 0, headerLen+nonceLen+payloadSize(s)+c.aead.Overhead())
	v = append(v, recordVersion)
	v = appendField(v, h.activity)
	v = appendField(v, h.expires)
	v = appendField(v, h.inactivity)
	nonce := v[headerLen : headerLen+nonceLen]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("session: record nonce: %w", err)
	}
	v = v[:headerLen+nonceLen]
	plain := appendPayload(make([]byte, 0, payloadSize(s)), s)
	return c.aead.Seal(v, nonce, plain, additionalData(string(v[:headerLen]), key)), nil
}

// open reads the record stored under key as session id. The header must
// already have been parsed from v.
func (c *recordCipher) open(v string, key, id string, h header) (*Session, error) {
	if len(v) < headerLen+nonceLen+c.aead.Overhead() {
		return nil, errRecord
	}
	sealed := []byte(v[headerLen:])
	plain, err := c.aead.Open(sealed[nonceLen:nonceLen], sealed[:nonceLen], sealed[nonceLen:], additionalData(v, key))
	if err != nil {
		return nil, errRecord
	}
	s := &Session{
		ID:           id,
		LastActivity: time.UnixMilli(h.activity),
		ExpiresAt:    time.UnixMilli(h.expires),
		Inactivity:   time.Duration(h.inactivity) * time.Millisecond,
	}
	if err := readPayload(plain, s); err != nil {
		return nil, err
	}
	return s, nil
}

// The payload is: user, display name, email (each a uvarint length and
// bytes), the number of groups and each group, the login time (varint
// seconds and uvarint nanoseconds since the Unix epoch), a remember-me
// byte, the credential stamp and the cookie domain (each a uvarint length
// and bytes). A record written before stamps existed ends after the
// remember-me byte; it reads with an empty stamp, which matches no user, so
// such sessions end. A record written before domains existed ends after
// the stamp; it reads with an empty domain, which no cookie domain has, so
// such sessions end too. A session signed in through an OpenID Connect
// provider adds the provider id, subject and sid (each a uvarint length and
// bytes); a password login's record ends after the domain, as before.

func payloadSize(s *Session) int {
	n := 3*binary.MaxVarintLen64 + len(s.User) + len(s.DisplayName) + len(s.Email)
	n += binary.MaxVarintLen64
	for _, g := range s.Groups {
		n += binary.MaxVarintLen64 + len(g)
	}
	n += 2*binary.MaxVarintLen64 + 1 + 2*binary.MaxVarintLen64 + len(s.Stamp) + len(s.Domain)
	return n + 3*binary.MaxVarintLen64 + len(s.Provider) + len(s.Subject) + len(s.SID)
}

func appendPayload(b []byte, s *Session) []byte {
	appendString := func(b []byte, v string) []byte {
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...)
	}
	b = appendString(b, s.User)
	b = appendString(b, s.DisplayName)
	b = appendString(b, s.Email)
	b = binary.AppendUvarint(b, uint64(len(s.Groups)))
	for _, g := range s.Groups {
		b = appendString(b, g)
	}
	b = binary.AppendVarint(b, s.CreatedAt.Unix())
	b = binary.AppendUvarint(b, uint64(s.CreatedAt.Nanosecond()))
	if s.RememberMe {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendString(b, s.Stamp)
	b = appendString(b, s.Domain)
	if s.Provider == "" {
		// A password login's record stays as it was before providers.
		return b
	}
	b = appendString(b, s.Provider)
	b = appendString(b, s.Subject)
	return appendString(b, s.SID)
}

// readPayload fills s from plain. The strings share one allocation: the
// payload is converted to a string once and sliced.
func readPayload(plain []byte, s *Session) error {
	all := string(plain)
	pos := 0
	uvarint := func() (uint64, bool) {
		n, k := binary.Uvarint(plain[pos:])
		if k <= 0 {
			return 0, false
		}
		pos += k
		return n, true
	}
	str := func() (string, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(plain)-pos) {
			return "", false
		}
		v := all[pos : pos+int(n)]
		pos += int(n)
		return v, true
	}
	var ok1, ok2, ok3 bool
	s.User, ok1 = str()
	s.DisplayName, ok2 = str()
	s.Email, ok3 = str()
	n, ok4 := uvarint()
	if !ok1 || !ok2 || !ok3 || !ok4 || n > uint64(len(plain)-pos) {
		return errRecord
	}
	if n > 0 {
		s.Groups = make([]string, n)
		for i := range s.Groups {
			g, ok := str()
			if !ok {
				return errRecord
			}
			s.Groups[i] = g
		}
	}
	sec, k := binary.Varint(plain[pos:])
	if k <= 0 {
		return errRecord
	}
	pos += k
	nsec, ok := uvarint()
	if !ok || nsec >= 1e9 || pos >= len(plain) {
		return errRecord
	}
	s.CreatedAt = time.Unix(sec, int64(nsec))
	s.RememberMe = plain[pos] == 1
	pos++
	if pos == len(plain) {
		return nil // written before stamps: s.Stamp stays empty
	}
	if s.Stamp, ok = str(); !ok {
		return errRecord
	}
	if pos == len(plain) {
		return nil // written before domains: s.Domain stays empty
	}
	if s.Domain, ok = str(); !ok {
		return errRecord
	}
	if pos == len(plain) {
		return nil // a password login, or written before providers
	}
	var ok1p, ok2p, ok3p bool
	s.Provider, ok1p = str()
	s.Subject, ok2p = str()
	s.SID, ok3p = str()
	if !ok1p || !ok2p || !ok3p || s.Provider == "" || pos != len(plain) {
		return errRecord
	}
	return nil
}
