package session

import (
	"encoding/base64"
	"testing"
	"time"
)

// A payload written before credential stamps existed ends after the
// remember-me byte; one written before cookie domains existed ends after
// the stamp. Both still read, with an empty stamp or domain (which no user
// or cookie domain has, so the session ends); anything after the domain is
// refused.
func TestPayloadStampAndDomain(t *testing.T) {
	s := &Session{User: "alice", Groups: []string{"dev"}, CreatedAt: time.Unix(1700000000, 5), RememberMe: true,
		Stamp: "st\x00mp", Domain: "example.org"}
	full := appendPayload(nil, s)

	var got Session
	if err := readPayload(full, &got); err != nil || got.Stamp != s.Stamp || got.Domain != s.Domain || !got.RememberMe || got.User != "alice" {
		t.Fatalf("read = %+v, %v; want the record back", got, err)
	}
	noDomain := full[:len(full)-1-len(s.Domain)]
	got = Session{}
	if err := readPayload(noDomain, &got); err != nil || got.Stamp != s.Stamp || got.Domain != "" {
		t.Fatalf("record without a domain: read = %+v, %v; want it with an empty domain", got, err)
	}
	old := noDomain[:len(noDomain)-1-len(s.Stamp)]
	got = Session{}
	if err := readPayload(old, &got); err != nil || got.Stamp != "" || got.Domain != "" || !got.RememberMe {
		t.Fatalf("old record: read = %+v, %v; want it with an empty stamp", got, err)
	}
	for _, bad := range [][]byte{append(full, 0), full[:len(full)-1], noDomain[:len(noDomain)-1], old[:len(old)-1]} {
		if err := readPayload(bad, &Session{}); err == nil {
			t.Errorf("payload %q read; want errRecord", bad)
		}
	}
}

// The random part of every store's ids: 256 bits, unpadded base64url,
// never repeated.
func TestNewIDRandom(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id, err := newID()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) < 32 {
			t.Fatalf("newID() = %q: want unpadded base64url of 32 bytes or more (%v)", id, err)
		}
		if seen[id] {
			t.Fatalf("newID() repeated %q", id)
		}
		seen[id] = true
	}
}
