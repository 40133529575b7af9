package session

import (
	"testing"
	"time"
)

// BenchmarkRecordOpen is what a client-side cache of raw replies would
// still pay on every hit, and the local cache, holding decoded sessions,
// does not: parsing the header and opening the record (AES-GCM and the
// payload).
func BenchmarkRecordOpen(b *testing.B) {
	key := make([]byte, 32)
	c, err := newRecordCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	s := &Session{ID: "id", User: "alice", DisplayName: "Alice Smith", Email: "alice@example.com",
		Groups: []string{"admins", "dev"}, CreatedAt: now, LastActivity: now, ExpiresAt: now.Add(time.Hour),
		Inactivity: 5 * time.Minute, Stamp: "stamp", Domain: "example.com"}
	h := headerOf(s)
	v, err := c.seal(s, h, "gate:session:{tag}:hash")
	if err != nil {
		b.Fatal(err)
	}
	value := string(v)
	b.ReportAllocs()
	for b.Loop() {
		h, ok := parseHeader(value)
		if !ok {
			b.Fatal("header")
		}
		if _, err := c.open(value, "gate:session:{tag}:hash", "id", h); err != nil {
			b.Fatal(err)
		}
	}
}
