// Package e2e tests gate as it is deployed: the proxy configurations shipped
// in configs/ (rendered with test addresses, never copied) in front of the
// gate binary built the way the Dockerfile builds it, a real browser logging
// in through nginx, the compose stack's files, and the README's copies of the
// configurations.
//
// The proxies, the browser and the path matrix's backends are real programs
// found on PATH (nginx, caddy, haproxy, traefik, chromium, python3,
// redis-server). A test whose program is missing is skipped, unless
// GATE_TEST_REQUIRE (comma-separated) names it: then it fails. The OpenID
// Connect provider is a real one too, run in the test process
// (internal/testkit/oidctest) and reached by gate and the browser on
// 127.0.0.1.
package e2e
