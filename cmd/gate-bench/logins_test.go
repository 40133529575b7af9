package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// TestLoginRequest: the burst's requests are valid HTTP logins, a right
// password, a wrong one and an unknown user in turn.
func TestLoginRequest(t *testing.T) {
	tests := []struct {
		try            int
		user, password string
	}{
		{0, "user7", benchPassword},
		{1, "user7", "wrong-password"},
		{2, "nobody7", benchPassword},
		{3, "user7", benchPassword},
	}
	for _, tt := range tests {
		req, err := http1Request(loginRequest(7, tt.try))
		if err != nil {
			t.Fatalf("try %d: %v", tt.try, err)
		}
		var body struct{ Username, Password string }
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Username != tt.user || body.Password != tt.password {
			t.Errorf("try %d: login %q/%q; want %q/%q", tt.try, body.Username, body.Password, tt.user, tt.password)
		}
		if got := req.Header.Get("X-Forwarded-For"); got != "203.0.113.8" {
			t.Errorf("X-Forwarded-For = %q", got)
		}
	}
}

func TestFmtStatuses(t *testing.T) {
	if got, want := fmtStatuses(map[int]int{503: 40, 200: 3, 401: 2}), "3 × 200, 2 × 401, 40 × 503"; got != want {
		t.Errorf("fmtStatuses = %q; want %q", got, want)
	}
}

func http1Request(raw []byte) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
}
