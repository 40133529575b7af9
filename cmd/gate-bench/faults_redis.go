package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"gate/internal/redisprobe"
)

// redisNode is a redis-server or redis-sentinel the fault harness starts,
// kills, restarts on the same port, freezes and thaws.
type redisNode struct {
	name string
	bin  string
	// dir holds its configuration and, with AOF, its data: a restart
	// finds them again.
	dir  string
	port int
	conf []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

func (n *redisNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// newRedisNode prepares a node on a free port; start runs it. sentinel
// picks redis-sentinel; conf holds configuration lines beyond the port,
// address and directory.
func newRedisNode(root, name string, sentinel bool, conf ...string) (*redisNode, error) {
	prog := "redis-server"
	if sentinel {
		prog = "redis-sentinel"
	}
	bin, err := exec.LookPath(prog)
	if err != nil {
		return nil, fmt.Errorf("%s not found on PATH (Debian: apt-get install redis-server redis-sentinel)", prog)
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	n := &redisNode{name: name, bin: bin, dir: dir, port: port, conf: conf}
	// The configuration is written once: a sentinel rewrites its own as
	// it learns the group, and keeps that across a restart.
	lines := append([]string{"port " + p, "bind 127.0.0.1", "protected-mode no", "dir " + dir, `logfile ""`}, conf...)
	if err := os.WriteFile(n.confPath(), []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *redisNode) confPath() string { return filepath.Join(n.dir, "redis.conf") }

// start runs the node and returns when it first answered PING.
func (n *redisNode) start() (time.Time, error) {
	cmd := exec.Command(n.bin, n.confPath())
	// Its log would drown the harness's output; the figures tell what
	// happened.
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return time.Time{}, fmt.Errorf("start %s: %w", n.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	up, err := redisprobe.FirstPong(ctx, n.addr())
	if err != nil {
		n.kill()
		return time.Time{}, fmt.Errorf("%s on %s: no PONG: %w", n.name, n.addr(), err)
	}
	return up, nil
}

// kill ends the node with SIGKILL, as a crash would, and waits until it is
// gone. A node not running is left alone.
func (n *redisNode) kill() {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// signal sends sig (SIGSTOP, SIGCONT) to the running node.
func (n *redisNode) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("%s is not running", n.name)
	}
	return n.cmd.Process.Signal(sig)
}

// sentinelGroup is a master, a replica and three sentinels watching them.
type sentinelGroup struct {
	master, replica *redisNode
	sentinels       []*redisNode
}

// masterName is what the sentinels call the master.
const masterName = "gatemaster"

// startSentinelGroup starts the group and waits until the replica is in
// sync and every sentinel knows the replica and the two other sentinels:
// a failover could start at once. downAfter is the sentinels'
// down-after-milliseconds.
func startSentinelGroup(root string, downAfter time.Duration) (*sentinelGroup, error) {
	g := &sentinelGroup{}
	data := []string{`save ""`, "appendonly no", "repl-diskless-sync-delay 0"}
	var err error
	if g.master, err = newRedisNode(root, "master", false, data...); err != nil {
		return g, err
	}
	if _, err := g.master.start(); err != nil {
		return g, err
	}
	if g.replica, err = newRedisNode(root, "replica", false, append(data, "replicaof 127.0.0.1 "+strconv.Itoa(g.master.port))...); err != nil {
		return g, err
	}
	if _, err := g.replica.start(); err != nil {
		return g, err
	}
	for i := range 3 {
		s, err := newRedisNode(root, "sentinel"+strconv.Itoa(i+1), true,
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", masterName, g.master.port),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", masterName, downAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s 10000", masterName),
			fmt.Sprintf("sentinel parallel-syncs %s 1", masterName))
		if err != nil {
			return g, err
		}
		g.sentinels = append(g.sentinels, s)
		if _, err := s.start(); err != nil {
			return g, err
		}
	}
	return g, g.waitReady(60 * time.Second)
}

// waitReady waits until the replica follows the master and every sentinel
// sees one healthy replica and the two other sentinels.
func (g *sentinelGroup) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := g.ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel group not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (g *sentinelGroup) ready(ctx context.Context) error {
	rc := redis.NewClient(&redis.Options{Addr: g.replica.addr(), MaxRetries: -1})
	info, err := rc.Info(ctx, "replication").Result()
	rc.Close()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return errors.New("replica not in sync")
	}
	for _, s := range g.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
		m, err := sc.Master(ctx, masterName).Result()
		if err != nil {
			sc.Close()
			return err
		}
		replicas, err := sc.Replicas(ctx, masterName).Result()
		sc.Close()
		if err != nil {
			return err
		}
		if m["num-other-sentinels"] != "2" || strings.Contains(m["flags"], "down") {
			return fmt.Errorf("sentinel %s: %s other sentinels, master %s", s.addr(), m["num-other-sentinels"], m["flags"])
		}
		healthy := 0
		for _, r := range replicas {
			if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
				healthy++
			}
		}
		if healthy != 1 {
			return fmt.Errorf("sentinel %s sees %d healthy replicas", s.addr(), healthy)
		}
	}
	return nil
}

// watchSwitch subscribes to +switch-master on every sentinel and sends the
// arrival time of each announcement until ctx ends: the leader announces
// first, the others once they learn of the new master from it. It returns
// once the subscriptions are in place.
func (g *sentinelGroup) watchSwitch(ctx context.Context) (<-chan time.Time, error) {
	times := make(chan time.Time, 2*len(g.sentinels))
	for _, s := range g.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
		ps := sc.Subscribe(ctx, "+switch-master")
		if _, err := ps.Receive(ctx); err != nil {
			ps.Close()
			sc.Close()
			return nil, fmt.Errorf("subscribe to +switch-master on %s: %w", s.addr(), err)
		}
		go func() {
			defer sc.Close()
			defer ps.Close()
			ch := ps.Channel()
			for {
				select {
				case <-ctx.Done():
					return
				case _, ok := <-ch:
					if !ok {
						return
					}
					select {
					case times <- time.Now():
					default:
					}
				}
			}
		}()
	}
	return times, nil
}

// failover asks the first sentinel for a failover (SENTINEL FAILOVER), as
// an operator would before taking the master down for maintenance.
func (g *sentinelGroup) failover(ctx context.Context) error {
	sc := redis.NewSentinelClient(&redis.Options{Addr: g.sentinels[0].addr(), MaxRetries: -1})
	defer sc.Close()
	return sc.Failover(ctx, masterName).Err()
}

func (g *sentinelGroup) stop() {
	for _, s := range g.sentinels {
		s.kill()
	}
	if g.replica != nil {
		g.replica.kill()
	}
	if g.master != nil {
		g.master.kill()
	}
}

// gateConfig is the session.redis section that points gate at the group.
func (g *sentinelGroup) gateConfig(timeout time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  redis:\n    timeout: %s\n    high_availability:\n      sentinel_name: %s\n      nodes:\n", timeout, masterName)
	for _, s := range g.sentinels {
		fmt.Fprintf(&b, "        - host: 127.0.0.1\n          port: %d\n", s.port)
	}
	return b.String()
}
