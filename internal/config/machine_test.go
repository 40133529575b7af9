package config_test

import (
	"reflect"
	"testing"
	"time"

	"gate/internal/config"
)

func TestRateLimitParsed(t *testing.T) {
	tests := []struct {
		name string
		rl   config.RateLimit
		want config.ParsedRateLimit
	}{
		{"by_user", config.RateLimit{Requests: 100, Period: time.Minute, By: "user"}, config.ParsedRateLimit{Requests: 100, Period: time.Minute}},
		{"by_default_is_user", config.RateLimit{Requests: 1, Period: time.Second}, config.ParsedRateLimit{Requests: 1, Period: time.Second}},
		{"by_client", config.RateLimit{Requests: 5, Period: time.Hour, By: "client"}, config.ParsedRateLimit{Requests: 5, Period: time.Hour, ByClient: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl := tt.rl
			ac := config.AccessControl{DefaultPolicy: "deny", Rules: []config.Rule{{Domain: config.StringList{"a.example.com"}, Policy: "one_factor", RateLimit: &rl}}}
			p, err := ac.Parsed()
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Rules[0].RateLimit; got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("RateLimit = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestMachineClientErrors(t *testing.T) {
	tests := []struct {
		name, yaml, key, msg string
	}{
		{"zero_requests", "access_control:\n  rules:\n    - domain: a.example.com\n      policy: one_factor\n      rate_limit: {requests: 0, period: 1m}\n", "access_control.rules[0].rate_limit.requests", "must be positive"},
		{"negative_requests", "access_control:\n  rules:\n    - domain: a.example.com\n      policy: one_factor\n      rate_limit: {requests: -3, period: 1m}\n", "access_control.rules[0].rate_limit.requests", "must be positive"},
		{"zero_period", "access_control:\n  rules:\n    - domain: a.example.com\n      policy: one_factor\n      rate_limit: {requests: 3, period: 0}\n", "access_control.rules[0].rate_limit.period", "must be positive"},
		{"unknown_by", "access_control:\n  rules:\n    - domain: a.example.com\n      policy: one_factor\n      rate_limit: {requests: 3, period: 1m, by: ip}\n", "access_control.rules[0].rate_limit.by", "user or client"},
		{"negative_cache", "authentication_backend:\n  header:\n    cache: -1\n", "authentication_backend.header.cache", "0 (no cache) or positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, nil, baseYAML(t), tt.yaml)
			wantProblem(t, err, tt.key, tt.msg)
		})
	}
}

func TestHeaderDefaults(t *testing.T) {
	c := mustLoad(t, nil, baseYAML(t))
	got, want := c.AuthenticationBackend.Header, (config.HeaderBackend{Cache: 5 * time.Minute})
	if got != want {
		t.Errorf("header = %+v; want %+v (both off, 5m cache)", got, want)
	}
}
