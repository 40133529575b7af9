package redisconn

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// dialGate keeps go-redis's connection pool from shutting itself off during
// an outage, so that gate is back the moment Redis is.
//
// go-redis (v9, internal/pool ConnPool.dialConn) counts failed dials. Once
// as many have failed as the pool holds connections, it stops dialling: every
// request gets the last dial error at once, and one goroutine
// (ConnPool.tryDial) dials again once a second until a dial succeeds. So
// after any outage seen under load, the pool keeps failing for up to a
// second after Redis answers again: 503s after a restart, and dials to the
// dead master after Sentinel's +switch-master, since the pool never asks
// Sentinel again until tryDial does.
//
// The gate hands the pool a failedConn instead of a dial error. The pool
// counts no failure; the command fails with the dial error all the same
// (failedConn fails every read and write with it), and the pool discards
// the connection. While dials fail, one dial at a time goes to the network
// and the others fail at once with the last error, as the pool's own
// breaker would: an outage under load costs no storm of dials or of
// Sentinel look-ups, and the first dial after Redis answers again
// succeeds, not the first one after a one-second sleep.
//
// One gate serves one node: a Cluster gives each node client its own.
type dialGate struct {
	mu sync.Mutex
	// failing is whether the last dial that finished failed; lastErr is
	// its error.
	failing bool
	lastErr error
	// probing is whether a dial is out while failing.
	probing bool
}

// admit decides whether a dial may go to the network. probe is true for the
// one dial let through while dials fail; err is the last dial error for a
// dial refused meanwhile.
func (g *dialGate) admit() (probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !g.failing:
		return false, nil
	case g.probing:
		return false, g.lastErr
	}
	g.probing = true
	return true, nil
}

// settle records how a dial let through ended. A dial canceled by its
// caller says nothing about Redis.
func (g *dialGate) settle(probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe {
		g.probing = false
	}
	if err != nil && errors.Is(err, context.Canceled) {
		return
	}
	g.failing = err != nil
	if err != nil {
		g.lastErr = err
	}
}

// DialHook implements redis.Hook.
func (g *dialGate) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		probe, err := g.admit()
		if err == nil {
			var c net.Conn
			c, err = next(ctx, network, addr)
			g.settle(probe, err)
			if err == nil {
				return c, nil
			}
		}
		return &failedConn{err: dialError{err}, addr: dialAddr{network, addr}}, nil
	}
}

// dialError carries a dial error through go-redis, which strips one layer
// off an error that fails a new connection's set-up (initPooledConn): the
// command then fails with the dial error itself, address and all ("dial
// tcp 10.0.0.5:6379: connect: connection refused"), not with its bare
// cause.
type dialError struct{ err error }

func (e dialError) Error() string { return e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

// ProcessHook implements redis.Hook; commands pass untouched.
func (g *dialGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

// ProcessPipelineHook implements redis.Hook; pipelines pass untouched.
func (g *dialGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// gateDials gives client's connection pools (every node's, for a Cluster)
// a dialGate. It runs before the client's first command, but after the
// client's constructor: the idle connections go-redis opens at once for
// minimum_idle_connections are dialled without the gate. Should they all
// fail and be as many as the pool size, the pool's own breaker holds until
// its once-a-second retry succeeds, once.
func gateDials(client redis.UniversalClient) {
	switch c := client.(type) {
	case *redis.ClusterClient:
		c.OnNewNode(func(node *redis.Client) { node.AddHook(&dialGate{}) })
	case *redis.Client:
		c.AddHook(&dialGate{})
	}
}

// failedConn stands for a connection whose dial failed: every read and write
// returns the dial error, and go-redis's health check of an idle connection
// fails on it (it has no descriptor), so a failedConn the pool parked
// because its requester had left is discarded, never lent out again.
type failedConn struct {
	err  error
	addr net.Addr
}

var _ syscall.Conn = (*failedConn)(nil)

func (c *failedConn) Read([]byte) (int, error)         { return 0, c.err }
func (c *failedConn) Write([]byte) (int, error)        { return 0, c.err }
func (c *failedConn) Close() error                     { return nil }
func (c *failedConn) LocalAddr() net.Addr              { return c.addr }
func (c *failedConn) RemoteAddr() net.Addr             { return c.addr }
func (c *failedConn) SetDeadline(time.Time) error      { return nil }
func (c *failedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *failedConn) SetWriteDeadline(time.Time) error { return nil }

// SyscallConn fails: there is no descriptor to check.
func (c *failedConn) SyscallConn() (syscall.RawConn, error) { return nil, c.err }

// dialAddr is the address a failed dial was for.
type dialAddr struct{ network, addr string }

func (a dialAddr) Network() string { return a.network }
func (a dialAddr) String() string  { return a.addr }
