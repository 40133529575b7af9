// Command gate-bench measures gate's forward-auth decision beside the
// physical floor — a bare net/http server answering 200 — on one machine in
// one run, and prints the ratios. Run it from the repository root:
//
//	go run ./cmd/gate-bench                      # floor, floor+headers, memory store, Redis store
//	go run ./cmd/gate-bench -sessions 100000     # more distinct sessions
//	go run ./cmd/gate-bench -memory-sessions 1000000 -targets none
//	go run ./cmd/gate-bench -profile prof        # also write pprof profiles into prof/
//	go run ./cmd/gate-bench -baseline OLD        # gate binary OLD beside this tree's, turn by turn
//	go run ./cmd/gate-bench -targets none -burst 0 -logins 200   # peak RSS under a login burst
//
// floor+headers is the floor answering with gate's five response headers:
// the share of the gap that is net/http writing them, not gate deciding.
//
// Targets run in interleaved rounds (A B C A B C …) so drift of the machine
// cancels out. It exits non-zero only on errors, never on slow figures.
package main
