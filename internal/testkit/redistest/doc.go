// Package redistest starts throw-away Redis deployments for tests: single
// servers (plain, requirepass, ACL users, unix socket, TLS, mutual TLS),
// a Sentinel group and a Cluster, each from the redis-server,
// redis-sentinel and redis-cli found on PATH. Ports come from the kernel,
// configuration files live in temporary directories, nothing is saved to
// disk, and every process is killed when its test (or, for shared
// deployments, the test binary) ends.
//
// When a program is missing the test is skipped with a message, unless
// GATE_TEST_REQUIRE (comma-separated) names redis: then it fails.
// GATE_TEST_REDIS_URL names an external Redis for the tests that need only
// a plain server.
//
// It is a test helper: nothing outside _test files imports it.
package redistest
