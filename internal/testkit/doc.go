// Package testkit holds what tests across gate share about their
// surroundings: a settable clock, free local ports, and the external
// programs a test needs (found on PATH; missing, the test is skipped, or
// fails when GATE_TEST_REQUIRE names it). Throw-away Redis deployments
// live in redistest below it.
//
// It is a test helper: nothing outside _test files and test helper
// packages imports it.
package testkit
