//go:build benchprofile

package main

import "gate/internal/benchprofile"

// startProfiling profiles a serve run for cmd/gate-bench -profile.
func startProfiling() (stop func()) { return benchprofile.FromEnv() }
