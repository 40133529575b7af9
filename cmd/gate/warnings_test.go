package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"gate/internal/testkit"
)

// mistakenRules is the rule set the examples once shipped: admins only on
// /admin, with resources, and then every signed-in user.
const mistakenRules = `access_control:
  default_policy: deny
  rules:
    - domain: app.example.com
      resources: ['^/admin(/.*)?$']
      subject: ['group:admins']
      policy: one_factor
    - domain: '*.example.com'
      policy: one_factor
`

func TestValidateConfigWarnings(t *testing.T) {
	path := writeConfig(t, "127.0.0.1:9091", mistakenRules)
	r := runGate(t, context.Background(), nil, "", "validate-config", "--config", path)
	if r.code != 0 {
		t.Fatalf("exit = %d; want 0 (stderr %q)", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	want := []string{
		"warning: access_control.rules[0]: ",
		"warning: access_control.rules[0].resources[0]: ",
		"configuration is valid",
	}
	if len(lines) != len(want) {
		t.Fatalf("stdout has %d lines; want %d:\n%s", len(lines), len(want), r.stdout)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q; want it to start with %q", i+1, lines[i], w)
		}
	}
	if !strings.Contains(lines[0], "access_control.rules[1] (policy one_factor)") {
		t.Errorf("line 1 = %q; want it to name the rule that lets users in", lines[0])
	}
}

// fixedRules is mistakenRules as the README says to fix it: paths, and a
// deny for everyone else before the catch-all.
const fixedRules = `access_control:
  default_policy: deny
  rules:
    - domain: app.example.com
      paths: ['^/admin(/.*)?$']
      subject: ['group:admins']
      policy: one_factor
    - domain: app.example.com
      paths: ['^/admin(/.*)?$']
      policy: deny
    - domain: '*.example.com'
      policy: one_factor
`

func TestValidateConfigWarningsFixed(t *testing.T) {
	path := writeConfig(t, "127.0.0.1:9091", fixedRules)
	r := runGate(t, context.Background(), nil, "", "validate-config", "--config", path)
	if r.code != 0 || r.stdout != "configuration is valid\n" {
		t.Errorf("exit %d, stdout %q; want 0 and only configuration is valid", r.code, r.stdout)
	}
}

func TestServeLogsWarnings(t *testing.T) {
	addr := testkit.FreeAddr(t)
	path := writeConfig(t, addr, mistakenRules)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- runGate(t, ctx, nil, "", "serve", "--config", path) }()
	waitHealthy(t, nil, path, done)
	cancel()
	select {
	case res := <-done:
		if res.code != 0 {
			t.Fatalf("serve exit = %d; stderr %q", res.code, res.stderr)
		}
		for _, want := range []string{"warning: access_control.rules[0]: ", "warning: access_control.rules[0].resources[0]: "} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("the log lacks %q:\n%s", want, res.stderr)
			}
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after the context ended")
	}
}
