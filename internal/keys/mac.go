package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// MAC computes HMAC-SHA256 under one key, reusing keyed hash states: a
// fresh hmac.New per call redoes the key schedule and allocates twice,
// on every authz request that names a cached credential or a rate-limit
// counter. It is safe for concurrent use.
type MAC struct {
	pool sync.Pool
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// NewMAC returns a MAC under key.
func NewMAC(key []byte) *MAC {
	m := &MAC{}
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return m
}

// Hex returns the hex-encoded HMAC of parts joined by NUL bytes, so that
// ("a", "b\x00c") and ("a\x00b", "c") differ only if a part holds a NUL.
// The scratch buffer, which may have held a password, is wiped before the
// state goes back to the pool.
func (m *MAC) Hex(parts ...string) string {
	st := m.pool.Get().(*macState)
	st.buf = st.buf[:0]
	for i, p := range parts {
		if i > 0 {
			st.buf = append(st.buf, 0)
		}
		st.buf = append(st.buf, p...)
	}
	st.h.Reset()
	st.h.Write(st.buf)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], st.h.Sum(st.sum[:0]))
	clear(st.buf)
	m.pool.Put(st)
	return string(out[:])
}
