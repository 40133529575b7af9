package session_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"gate/internal/config"
	"gate/internal/session"
	"gate/internal/session/sessiontest"
	"gate/internal/testkit"
	"gate/internal/testkit/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// Passwords of the shared deployments. Error messages are checked not to
// contain them.
const (
	requirePass     = "requirepass-Secret-1"
	aclUser         = "gate"
	aclPass         = "acl-Secret-2"
	masterPass      = "master-Secret-3"
	sentinelPass    = "sentinel-Secret-4"
	sentinelACLUser = "gate-sentinel"
	sentinelACLPass = "sentinel-acl-Secret-5"
)

// The deployments below are started once per test binary and shared by
// the tests, each of which keeps to its own key prefix.

// plain is a server without authentication, on TCP and a unix socket.
func plain(t testing.TB) *redistest.Server {
	return redistest.Shared(t, "plain", func(t testing.TB) *redistest.Server {
		return redistest.StartServer(t, redistest.ServerOptions{Socket: true})
	})
}

// authenticated has a requirepass default user and an ACL user.
func authenticated(t testing.TB) *redistest.Server {
	return redistest.Shared(t, "auth", func(t testing.TB) *redistest.Server {
		return redistest.StartServer(t, redistest.ServerOptions{Password: requirePass, Users: map[string]string{aclUser: aclPass}})
	})
}

func certs(t testing.TB) *redistest.Certs {
	return redistest.Shared(t, "certs", redistest.NewCerts)
}

// tlsServer serves TLS only and needs no client certificate.
func tlsServer(t testing.TB) *redistest.Server {
	c := certs(t)
	return redistest.Shared(t, "tls", func(t testing.TB) *redistest.Server {
		return redistest.StartServer(t, redistest.ServerOptions{TLS: c})
	})
}

// mtlsServer serves TLS only and requires a client certificate.
func mtlsServer(t testing.TB) *redistest.Server {
	c := certs(t)
	return redistest.Shared(t, "mtls", func(t testing.TB) *redistest.Server {
		return redistest.StartServer(t, redistest.ServerOptions{TLS: c, ClientCerts: true})
	})
}

func sentinels(t testing.TB) *redistest.SentinelGroup {
	return redistest.Shared(t, "sentinel", func(t testing.TB) *redistest.SentinelGroup {
		return redistest.StartSentinel(t, redistest.SentinelOptions{
			Password:         masterPass,
			SentinelPassword: sentinelPass,
			SentinelUsers:    map[string]string{sentinelACLUser: sentinelACLPass},
		})
	})
}

// tlsSentinels is a Sentinel group over TLS only, without passwords.
func tlsSentinels(t testing.TB) *redistest.SentinelGroup {
	c := certs(t)
	return redistest.Shared(t, "tlssentinel", func(t testing.TB) *redistest.SentinelGroup {
		return redistest.StartSentinel(t, redistest.SentinelOptions{TLS: c})
	})
}

func cluster(t testing.TB) *redistest.Cluster {
	return redistest.Shared(t, "cluster", redistest.StartCluster)
}

// tlsCluster serves TLS only, to clients and between its nodes.
func tlsCluster(t testing.TB) *redistest.Cluster {
	c := certs(t)
	return redistest.Shared(t, "tlscluster", func(t testing.TB) *redistest.Cluster {
		return redistest.StartTLSCluster(t, c)
	})
}

// target is one way of reaching Redis, as a session.redis section.
type target struct {
	name string
	cfg  func(t testing.TB) config.Redis
}

// hostPort returns the host and port of a server.
func hostPort(s *redistest.Server) (string, int) {
	return "127.0.0.1", s.Port
}

func nodes(addrs []string) []config.RedisNode {
	var ns []config.RedisNode
	for _, a := range addrs {
		host, port, _ := strings.Cut(a, ":")
		var p int
		fmt.Sscan(port, &p)
		ns = append(ns, config.RedisNode{Host: host, Port: p})
	}
	return ns
}

func tlsSection(c *redistest.Certs) *config.RedisTLS {
	return &config.RedisTLS{MinimumVersion: "TLS1.2", CertificateAuthority: c.CAFile}
}

// targets are every topology and option the contract suite runs against.
func targets() []target {
	return []target{
		{"plain", func(t testing.TB) config.Redis {
			c := redistest.Config()
			if u := redistest.ExternalURL(); u != "" {
				c.URL = u
				return c
			}
			c.Host, c.Port = hostPort(plain(t))
			return c
		}},
		{"requirepass", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(authenticated(t))
			c.Password = requirePass
			return c
		}},
		{"acl_user", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(authenticated(t))
			c.Username, c.Password = aclUser, aclPass
			return c
		}},
		{"database_index", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(plain(t))
			c.DatabaseIndex = 5
			return c
		}},
		{"unix_socket", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host = plain(t).Socket
			c.DatabaseIndex = 2
			return c
		}},
		{"tls", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(tlsServer(t))
			c.TLS = tlsSection(certs(t))
			c.TLS.ServerName = redistest.ServerName
			return c
		}},
		{"tls_pem_text_and_skip_verify", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(tlsServer(t))
			c.TLS = &config.RedisTLS{ServerName: "wrong.example", SkipVerify: true, MinimumVersion: "TLS1.3", MaximumVersion: "TLS1.3"}
			return c
		}},
		{"mutual_tls", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(mtlsServer(t))
			c.TLS = tlsSection(certs(t))
			c.TLS.CertificateChain = certs(t).ClientCertFile
			c.TLS.PrivateKey = string(certs(t).ClientKey)
			return c
		}},
		{"sentinel", func(t testing.TB) config.Redis {
			g := sentinels(t)
			c := redistest.Config()
			// The redis section's host is the first sentinel.
			c.Host, c.Port = hostPort(g.Sentinels[0])
			c.Password = masterPass
			c.DatabaseIndex = 3
			c.HighAvailability = &config.RedisSentinel{
				SentinelName:     redistest.MasterName,
				SentinelPassword: sentinelPass,
				Nodes:            nodes(g.Addrs[1:]),
			}
			return c
		}},
		{"sentinel_acl", func(t testing.TB) config.Redis {
			g := sentinels(t)
			c := redistest.Config()
			c.Password = masterPass
			c.HighAvailability = &config.RedisSentinel{
				SentinelName:     redistest.MasterName,
				SentinelUsername: sentinelACLUser,
				SentinelPassword: sentinelACLPass,
				Nodes:            nodes(g.Addrs),
			}
			return c
		}},
		{"cluster", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Cluster = &config.RedisCluster{Nodes: nodes(cluster(t).Addrs[:2])}
			return c
		}},
		{"url_single", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = fmt.Sprintf("redis://%s:%s@%s/4", aclUser, url.PathEscape(aclPass), authenticated(t).Addr)
			return c
		}},
		{"url_requirepass_db_query", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = fmt.Sprintf("redis://:%s@%s?db=6", requirePass, authenticated(t).Addr)
			return c
		}},
		{"url_unix", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = "unix://" + plain(t).Socket + "?db=7"
			return c
		}},
		{"url_rediss", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = "rediss://" + mtlsServer(t).Addr + "/1"
			c.TLS = tlsSection(certs(t))
			c.TLS.CertificateChain = string(certs(t).ClientCert)
			c.TLS.PrivateKey = certs(t).ClientKeyFile
			return c
		}},
		{"url_sentinel_implicit", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = fmt.Sprintf("redis://:%s@%s/%s?sentinel_password=%s", masterPass, strings.Join(sentinels(t).Addrs, ","), redistest.MasterName, sentinelPass)
			return c
		}},
		{"url_sentinel_explicit", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = fmt.Sprintf("redis+sentinel://:%s@%s/%s?db=2", masterPass, sentinels(t).Addrs[0], redistest.MasterName)
			c.HighAvailability = &config.RedisSentinel{SentinelUsername: sentinelACLUser, SentinelPassword: sentinelACLPass}
			return c
		}},
		{"url_sentinel_tls", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = fmt.Sprintf("rediss+sentinel://%s/%s?db=1", strings.Join(tlsSentinels(t).Addrs, ","), redistest.MasterName)
			c.TLS = tlsSection(certs(t))
			return c
		}},
		{"url_cluster_implicit", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = "redis://" + strings.Join(cluster(t).Addrs, ",")
			return c
		}},
		{"url_cluster_explicit", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = "redis+cluster://" + cluster(t).Addrs[1]
			return c
		}},
		{"url_cluster_tls", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.URL = "rediss+cluster://" + strings.Join(tlsCluster(t).Addrs, ",")
			c.TLS = tlsSection(certs(t))
			return c
		}},
	}
}

// TestRedisStore runs the Store contract against every topology and
// connection option.
func TestRedisStore(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			base := tg.cfg(t)
			sessiontest.Run(t, func(t *testing.T, clock *testkit.Clock) session.Store {
				cfg := base
				cfg.SessionPrefix = redistest.Prefix() + "session:"
				return newRedisStore(t, cfg, clock.Now)
			})
		})
	}
}

// TestRedisConnectFailures checks that a wrong TLS or credential setting
// fails to connect, closed, and that the error names the connection but
// not the password.
func TestRedisConnectFailures(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(t testing.TB) config.Redis
		want string
	}{
		{"tls_wrong_server_name", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(tlsServer(t))
			c.TLS = tlsSection(certs(t))
			c.TLS.ServerName = "wrong.example"
			return c
		}, "certificate"},
		{"tls_unknown_authority", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(tlsServer(t))
			c.TLS = &config.RedisTLS{}
			return c
		}, "certificate"},
		{"tls_server_without_tls", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(plain(t))
			c.TLS = tlsSection(certs(t))
			return c
		}, "redis 127.0.0.1:"},
		{"mutual_tls_without_client_certificate", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(mtlsServer(t))
			c.TLS = tlsSection(certs(t))
			return c
		}, "redis 127.0.0.1:"},
		{"wrong_requirepass", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(authenticated(t))
			c.Password = "not-" + requirePass
			return c
		}, "WRONGPASS"},
		{"wrong_acl_password", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(authenticated(t))
			c.Username, c.Password = aclUser, "not-"+aclPass
			return c
		}, "WRONGPASS"},
		{"missing_password", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = hostPort(authenticated(t))
			return c
		}, "NOAUTH"},
		{"wrong_sentinel_password", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Password = masterPass
			c.HighAvailability = &config.RedisSentinel{SentinelName: redistest.MasterName, SentinelPassword: "not-" + sentinelPass, Nodes: nodes(sentinels(t).Addrs)}
			return c
		}, "redis sentinel"},
		{"nothing_listening", func(t testing.TB) config.Redis {
			c := redistest.Config()
			c.Host, c.Port = "127.0.0.1", testkit.FreePort(t)
			return c
		}, "redis 127.0.0.1:"},
	}
	secrets := []string{requirePass, aclPass, masterPass, sentinelPass, sentinelACLPass}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(t)
			cfg.Timeout = 500 * time.Millisecond
			s := newRedisStore(t, cfg, time.Now)
			ctx := context.Background()
			err := s.Ping(ctx)
			if err == nil {
				t.Fatal("Ping = nil; want a connection error")
			}
			t.Logf("Ping: %v", err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ping = %v; want an error mentioning %q", err, tt.want)
			}
			for _, secret := range secrets {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals a password", err)
				}
			}
			id, err := s.NewID("alice")
			if err != nil {
				t.Fatal(err)
			}
			// Fail closed: an unreachable store is an error, never "not found".
			if _, err := s.Get(ctx, id); err == nil || errors.Is(err, session.ErrNotFound) {
				t.Errorf("Get = %v; want a store error", err)
			}
		})
	}
}
