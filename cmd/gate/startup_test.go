package main

import (
	"errors"
	"strings"
	"testing"
)

func TestAtKey(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"plain", errors.New("users: bad hash"), []string{"authentication_backend.file.path: users: bad hash"}},
		{"keyed", errors.New("session.name: required"), []string{"session.name: required"}},
		{"indexed", errors.New("access_control.rules[0].networks[1]: invalid CIDR"), []string{"access_control.rules[0].networks[1]: invalid CIDR"}},
		{"lookalike", errors.New("sessions: gone"), []string{"authentication_backend.file.path: sessions: gone"}},
		{"joined", errors.Join(errors.New("portal.url: bad"), errors.New("bad too")), []string{"portal.url: bad", "authentication_backend.file.path: bad too"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := atKey("authentication_backend.file.path", tt.err)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("atKey = %v; want nil", err)
				}
				return
			}
			if got, want := strings.Join(errorLines(err), "\n"), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("atKey lines =\n%s\nwant\n%s", got, want)
			}
		})
	}
}
