package redistest

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Pause stops the server's process (SIGSTOP): connections and the
// listening socket stay open, nothing answers. Resume continues it.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGSTOP)
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT)
}

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		t.Fatalf("signal %v: server %s is not running", sig, s.Addr)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to server %s: %v", sig, s.Addr, err)
	}
}

// FirstClusterOK asks a cluster node for CLUSTER INFO every millisecond and
// returns when it first reports cluster_state:ok: a restarted node answers
// PING at once but refuses data commands (CLUSTERDOWN) until it has
// rejoined the cluster.
func FirstClusterOK(ctx context.Context, node *Server) (time.Time, error) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		info, err := node.Admin().ClusterInfo(pctx).Result()
		cancel()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
	}
}
