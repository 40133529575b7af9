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
//
// With -faults it runs fault experiments instead: gate under decisions,
// logins and logouts while its Redis (processes the harness starts itself)
// is killed and restarted, fails over under Sentinel, or freezes; and a
// soak. It prints the answers by status, the 503s against Redis's outage,
// any 200 for an ended session, any 5xx other than 503, gate's RSS and
// goroutines, and gate's log lines about Redis (docs/reliability.md):
//
//	go run ./cmd/gate-bench -faults all -conns 32 -soak 3m
//	go run ./cmd/gate-bench -faults freeze -outage 10s -timeout 2s
//
// It exits non-zero when gate answers 200 for a session that had ended
// (and Redis did not lose the logout) or a 5xx other than 503.
//
// With -logout-latency it measures SPEC section 12's logout-to-refusal time
// instead: two gates on one Redis, logouts on A, and the time until B stops
// answering 200 for the session, with B's local cache on and, as the
// baseline, off (docs/performance.md):
//
//	go run ./cmd/gate-bench -logout-latency -logouts 1000
//
// It exits non-zero when B still allows a session a second after its
// logout.
package main
