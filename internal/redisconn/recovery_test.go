package redisconn_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/config"
	"gate/internal/redisconn"
	"gate/internal/redisprobe"
	"gate/internal/testkit/redistest"
)

// recoveryBound is how soon after Redis's first PONG a command must succeed
// again. The product's target is 50 ms (docs/reliability.md measures it);
// the test allows more for -race on a shared machine, and still fails on
// go-redis's own one-second redial.
const recoveryBound = 250 * time.Millisecond

// hammer sends commands from n goroutines until stop is called, and keeps
// the times that tell how an outage looked from the client.
type hammer struct {
	mu sync.Mutex
	// ok and failed count results; lastErr is the latest failure.
	ok, failed int
	lastErr    error
	// okAfter is the end of the first success that began at or after
	// mark, failedAfter the start of the latest failure that did.
	mark        time.Time
	okAfter     time.Time
	failedAfter time.Time
	stop        func()
}

func startHammer(t *testing.T, n int, do func(context.Context) error) *hammer {
	t.Helper()
	h := &hammer{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				err := do(ctx)
				if ctx.Err() != nil {
					return
				}
				h.record(start, time.Now(), err)
			}
		})
	}
	h.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(h.stop)
	return h
}

func (h *hammer) record(start, end time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil && !errors.Is(err, redis.Nil) {
		h.failed++
		h.lastErr = err
		if !h.mark.IsZero() && !start.Before(h.mark) {
			h.failedAfter = start
		}
		return
	}
	h.ok++
	if !h.mark.IsZero() && !start.Before(h.mark) && h.okAfter.IsZero() {
		h.okAfter = end
	}
}

// counts returns the successes and failures so far.
func (h *hammer) counts() (ok, failed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ok, h.failed
}

// from starts watching for the first success and the last failure of
// commands begun at or after t.
func (h *hammer) from(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mark, h.okAfter, h.failedAfter = t, time.Time{}, time.Time{}
}

func (h *hammer) after() (okAfter, failedAfter time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.okAfter, h.failedAfter
}

// waitFailing waits until the commands fail: more failures than the pool
// holds connections, which is when go-redis's own pool would stop dialling.
func (h *hammer) waitFailing(t *testing.T, pool int) {
	t.Helper()
	_, base := h.counts()
	redistest.Eventually(t, 10*time.Second, func() error {
		if _, failed := h.counts(); failed < base+4*pool {
			return errors.New("commands still succeed after Redis stopped")
		}
		return nil
	})
}

// TestRecoveryAfterRestart kills Redis under 32 goroutines sending
// commands through a pool of 8, starts it again on the same port, and
// checks that commands succeed again at once: the first within
// recoveryBound of Redis's first PONG (for a Cluster node, of its
// rejoining the cluster), and none begun later than that fails.
func TestRecoveryAfterRestart(t *testing.T) {
	const pool = 8
	tests := []struct {
		name  string
		start func(t *testing.T) (cfg config.Redis, node *redistest.Server, key string)
		// serving returns when the restarted node serves again.
		serving func(ctx context.Context, node *redistest.Server) (time.Time, error)
	}{
		{"single", func(t *testing.T) (config.Redis, *redistest.Server, string) {
			srv := redistest.StartServer(t, redistest.ServerOptions{})
			cfg := redistest.Config()
			cfg.Host, cfg.Port = "127.0.0.1", srv.Port
			return cfg, srv, "k"
		}, func(ctx context.Context, node *redistest.Server) (time.Time, error) {
			return redisprobe.FirstPong(ctx, node.Addr)
		}},
		{"cluster", func(t *testing.T) (config.Redis, *redistest.Server, string) {
			c := redistest.StartCluster(t)
			cfg := redistest.Config()
			cfg.Cluster = &config.RedisCluster{}
			for _, n := range c.Nodes {
				cfg.Cluster.Nodes = append(cfg.Cluster.Nodes, config.RedisNode{Host: "127.0.0.1", Port: n.Port})
			}
			// The node that holds the key is the one to restart.
			key := "k"
			addr, err := c.Admin(t).MasterForKey(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range c.Nodes {
				if n.Addr == addr.Options().Addr {
					return cfg, n, key
				}
			}
			t.Fatalf("no node serves %s at %s", key, addr.Options().Addr)
			return cfg, nil, ""
		}, func(ctx context.Context, node *redistest.Server) (time.Time, error) {
			// A restarted cluster node answers PING at once, but data
			// commands only once it has rejoined the cluster bus
			// (CLUSTERDOWN until then).
			return redistest.FirstClusterOK(ctx, node)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, node, key := tt.start(t)
			cfg.MaximumActiveConnections = pool
			cfg.Timeout = time.Second
			client, _, err := redisconn.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close() })
			h := startHammer(t, 32, func(ctx context.Context) error { return client.Get(ctx, key).Err() })
			redistest.Eventually(t, 10*time.Second, func() error {
				if ok, _ := h.counts(); ok < 100 {
					return errors.New("no traffic yet")
				}
				return nil
			})

			node.Stop()
			h.waitFailing(t, pool)
			h.mu.Lock()
			failure := h.lastErr.Error()
			h.mu.Unlock()
			if strings.Contains(failure, "refused") && !strings.Contains(failure, node.Addr) {
				t.Errorf("a refused dial fails the command with %q; want the dial error, address and all", failure)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pong := make(chan time.Time, 1)
			go func() {
				up, _ := tt.serving(ctx, node)
				// At once: Restart itself may return a while later.
				h.from(up)
				pong <- up
			}()
			node.Restart(t)
			up := <-pong
			if up.IsZero() {
				t.Fatal("the node does not serve after the restart")
			}
			redistest.Eventually(t, 5*time.Second, func() error {
				if ok, _ := h.after(); ok.IsZero() {
					return errors.New("no command has succeeded since Redis answered PING")
				}
				return nil
			})
			// Commands keep going for a while: none begun after the first
			// PONG may fail from here on.
			time.Sleep(recoveryBound)
			h.stop()
			okAfter, failedAfter := h.after()
			if lag := okAfter.Sub(up); lag > recoveryBound {
				t.Errorf("first success %v after Redis's first PONG; want within %v", lag, recoveryBound)
			}
			if !failedAfter.IsZero() && failedAfter.Sub(up) > recoveryBound {
				t.Errorf("a command begun %v after Redis's first PONG failed (%v)", failedAfter.Sub(up), h.lastErr)
			}
			t.Logf("first success %v after the first PONG", okAfter.Sub(up))
		})
	}
}
