package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Cluster is a Redis Cluster of three masters without replicas.
type Cluster struct {
	Nodes []*Server
	// Addrs are the nodes' addresses.
	Addrs []string
	tls   *Certs
}

// StartCluster starts three cluster-enabled servers, joins them with
// redis-cli --cluster create, and waits until every node reports
// cluster_state:ok and knows the other two.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return startCluster(t, nil)
}

// StartTLSCluster is StartCluster with TLS only, clients and cluster bus
// alike (tls-cluster), with certs.
func StartTLSCluster(t testing.TB, certs *Certs) *Cluster {
	t.Helper()
	return startCluster(t, certs)
}

func startCluster(t testing.TB, certs *Certs) *Cluster {
	t.Helper()
	cli := LookPath(t, "redis-server", "redis-cli")[1]
	c := &Cluster{tls: certs}
	o := ServerOptions{cluster: true, TLS: certs}
	if certs != nil {
		o.Config = []string{"tls-cluster yes", "tls-replication yes"}
	}
	for range 3 {
		s := StartServer(t, o)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if certs != nil {
		args = append(args, "--tls", "--cacert", certs.CAFile, "--cert", certs.ClientCertFile, "--key", certs.ClientKeyFile)
	}
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	Eventually(t, 30*time.Second, func() error {
		for _, n := range c.Nodes {
			info, err := n.Admin().ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:3"} {
				if !strings.Contains(info, want) {
					return fmt.Errorf("node %s: no %s yet", n.Addr, want)
				}
			}
		}
		return nil
	})
	return c
}

// Admin returns a cluster client for inspection, closed with the test.
func (c *Cluster) Admin(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                    c.Addrs,
		TLSConfig:                c.Nodes[0].ClientTLS(),
		MaxRetries:               -1,
		DialerRetries:            1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { cc.Close() })
	return cc
}
