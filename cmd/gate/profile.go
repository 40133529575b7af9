//go:build !benchprofile

package main

// startProfiling is a no-op in release builds; cmd/gate-bench builds gate
// with the benchprofile tag to profile it under load.
func startProfiling() (stop func()) { return func() {} }
