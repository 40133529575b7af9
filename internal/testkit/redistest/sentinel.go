package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels of StartSentinel monitor.
const MasterName = "gatemaster"

// SentinelOptions configures StartSentinel.
type SentinelOptions struct {
	// Password is requirepass (and masterauth) of the master and the
	// replica, so either can be master.
	Password string
	// SentinelPassword is requirepass of the sentinels; they use it among
	// themselves too.
	SentinelPassword string
	// SentinelUsers are ACL users on the sentinels: name to password.
	SentinelUsers map[string]string
	// TLS makes every server and sentinel TLS only, replication and the
	// sentinels' links included.
	TLS *Certs
}

// SentinelGroup is one master, one replica and three sentinels.
type SentinelGroup struct {
	Master, Replica *Server
	Sentinels       []*Server
	// Addrs are the sentinels' addresses.
	Addrs []string
	opts  SentinelOptions
}

// StartSentinel starts a master, a replica of it and three sentinels, and
// waits until the replica is in sync and every sentinel knows the replica
// and the other sentinels, so that a failover can start at once.
func StartSentinel(t testing.TB, o SentinelOptions) *SentinelGroup {
	t.Helper()
	LookPath(t, "redis-server", "redis-sentinel")
	g := &SentinelGroup{opts: o}
	auth := func(lines ...string) []string {
		// Start the full sync at once, not after the default 5s wait for
		// more replicas.
		lines = append(lines, "repl-diskless-sync-delay 0")
		if o.TLS != nil {
			lines = append(lines, "tls-replication yes")
		}
		if o.Password != "" {
			lines = append(lines, "masterauth "+o.Password)
		}
		return lines
	}
	g.Master = StartServer(t, ServerOptions{Password: o.Password, TLS: o.TLS, Config: auth()})
	g.Replica = StartServer(t, ServerOptions{Password: o.Password, TLS: o.TLS, Config: auth("replicaof 127.0.0.1 " + strconv.Itoa(g.Master.Port))})
	g.waitReplicated(t, g.Master, g.Replica)

	for range 3 {
		conf := []string{
			"sentinel monitor " + MasterName + " 127.0.0.1 " + strconv.Itoa(g.Master.Port) + " 2",
			"sentinel down-after-milliseconds " + MasterName + " 2000",
			"sentinel failover-timeout " + MasterName + " 10000",
			"sentinel parallel-syncs " + MasterName + " 1",
		}
		if o.Password != "" {
			conf = append(conf, "sentinel auth-pass "+MasterName+" "+o.Password)
		}
		if o.SentinelPassword != "" {
			conf = append(conf, "sentinel sentinel-pass "+o.SentinelPassword)
		}
		if o.TLS != nil {
			conf = append(conf, "tls-replication yes")
		}
		s := StartServer(t, ServerOptions{Password: o.SentinelPassword, Users: o.SentinelUsers, TLS: o.TLS, Config: conf, sentinel: true})
		g.Sentinels = append(g.Sentinels, s)
		g.Addrs = append(g.Addrs, s.Addr)
	}
	g.waitSentinels(t)
	return g
}

// waitReplicated waits until replica follows master with a live link.
func (g *SentinelGroup) waitReplicated(t testing.TB, master, replica *Server) {
	t.Helper()
	ctx := context.Background()
	Eventually(t, 20*time.Second, func() error {
		info, err := replica.Admin().Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		want := "master_port:" + strconv.Itoa(master.Port)
		if !strings.Contains(info, want) || !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %s not in sync with %s", replica.Addr, master.Addr)
		}
		return nil
	})
}

// waitSentinels waits until every sentinel sees the current master, one
// healthy replica and the two other sentinels.
func (g *SentinelGroup) waitSentinels(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	Eventually(t, 30*time.Second, func() error {
		for _, s := range g.Sentinels {
			c := g.sentinelClient(s)
			m, err := c.Master(ctx, MasterName).Result()
			if err != nil {
				c.Close()
				return err
			}
			if n, _ := strconv.Atoi(m["num-other-sentinels"]); n != 2 {
				c.Close()
				return fmt.Errorf("sentinel %s knows %d other sentinels; want 2", s.Addr, n)
			}
			if strings.Contains(m["flags"], "down") {
				c.Close()
				return fmt.Errorf("sentinel %s sees the master as %s", s.Addr, m["flags"])
			}
			replicas, err := c.Replicas(ctx, MasterName).Result()
			c.Close()
			if err != nil {
				return err
			}
			ok := 0
			for _, r := range replicas {
				if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") {
					ok++
				}
			}
			if ok != 1 {
				return fmt.Errorf("sentinel %s sees %d healthy replicas; want 1", s.Addr, ok)
			}
		}
		return nil
	})
}

// sentinelClient returns a client of sentinel s; the caller closes it.
func (g *SentinelGroup) sentinelClient(s *Server) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{
		Addr: s.Addr, Password: g.opts.SentinelPassword, TLSConfig: s.ClientTLS(), MaxRetries: -1, DialerRetries: 1,
	})
}

// MasterAddr asks the first sentinel for the current master.
func (g *SentinelGroup) MasterAddr(ctx context.Context) (string, error) {
	c := g.sentinelClient(g.Sentinels[0])
	defer c.Close()
	a, err := c.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return a[0] + ":" + a[1], nil
}

// current returns the servers that are master and replica now.
func (g *SentinelGroup) current(t testing.TB) (master, replica *Server) {
	t.Helper()
	addr, err := g.MasterAddr(context.Background())
	if err != nil {
		t.Fatalf("ask sentinel for the master: %v", err)
	}
	switch addr {
	case g.Master.Addr:
		return g.Master, g.Replica
	case g.Replica.Addr:
		return g.Replica, g.Master
	}
	t.Fatalf("sentinel names master %s, neither of %s and %s", addr, g.Master.Addr, g.Replica.Addr)
	return nil, nil
}

// Failover makes the replica the master (SENTINEL FAILOVER, after WAIT
// for the replica to have every write) and waits until the sentinels
// agree, the new master takes writes and the old one follows it. The
// sentinels may learn of the new replica only later: a second Failover
// soon after may find none to promote.
func (g *SentinelGroup) Failover(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	oldMaster, newMaster := g.current(t)
	if err := oldMaster.Admin().Do(ctx, "WAIT", 1, 5000).Err(); err != nil {
		t.Fatalf("WAIT: %v", err)
	}
	c := g.sentinelClient(g.Sentinels[0])
	defer c.Close()
	if err := c.Failover(ctx, MasterName).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	Eventually(t, 30*time.Second, func() error {
		for _, s := range g.Sentinels {
			sc := g.sentinelClient(s)
			a, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
			sc.Close()
			if err != nil {
				return err
			}
			if a[0]+":"+a[1] != newMaster.Addr {
				return fmt.Errorf("sentinel %s still names %s:%s", s.Addr, a[0], a[1])
			}
		}
		role, err := newMaster.Admin().Do(ctx, "ROLE").Slice()
		if err != nil {
			return err
		}
		if role[0] != "master" {
			return fmt.Errorf("%s is %v, not yet master", newMaster.Addr, role[0])
		}
		return nil
	})
	// The sentinels turn the old master into a replica when they next
	// read its INFO, up to ten seconds later; doing it now saves the wait.
	if err := oldMaster.Admin().Do(ctx, "REPLICAOF", "127.0.0.1", newMaster.Port).Err(); err != nil {
		t.Fatalf("REPLICAOF on the old master: %v", err)
	}
	g.waitReplicated(t, newMaster, oldMaster)
}

// KillMaster kills the current master (SIGKILL), as a crash would: the
// sentinels promote the replica once they agree it is down, after
// down-after-milliseconds (2 s here). It returns the killed server.
func (g *SentinelGroup) KillMaster(t testing.TB) *Server {
	t.Helper()
	master, _ := g.current(t)
	master.Stop()
	return master
}

// SwitchMaster subscribes to +switch-master on the first sentinel and
// sends the arrival time of each such message, until the test ends. It
// returns once the subscription is in place.
func (g *SentinelGroup) SwitchMaster(t testing.TB) <-chan time.Time {
	t.Helper()
	ctx := context.Background()
	c := g.sentinelClient(g.Sentinels[0])
	ps := c.Subscribe(ctx, "+switch-master")
	if _, err := ps.Receive(ctx); err != nil {
		c.Close()
		t.Fatalf("subscribe to +switch-master: %v", err)
	}
	times := make(chan time.Time, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ps.Channel() {
			select {
			case times <- time.Now():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ps.Close()
		c.Close()
		<-done
	})
	return times
}
