// Package benchprofile profiles a server process under cmd/gate-bench: the
// CPU profile starts on SIGUSR1, sent once the harness has finished its
// set-up (logging users in hashes passwords, which must stay out of the
// profile), and CPU, heap, allocation and mutex profiles are written when
// the process stops.
package benchprofile
