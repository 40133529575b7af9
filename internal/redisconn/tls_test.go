package redisconn_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gate/internal/config"
	"gate/internal/redisconn"
	"gate/internal/testkit/redistest"
)

func resolveTLS(t *testing.T, section *config.RedisTLS) (*tls.Config, error) {
	t.Helper()
	c := base()
	c.Host, c.TLS = "h", section
	p, err := redisconn.Resolve(c)
	if err != nil {
		return nil, err
	}
	return p.TLS, nil
}

func TestTLSConfig(t *testing.T) {
	certs := redistest.NewCerts(t)
	serverCert := func(t *testing.T) *x509.Certificate {
		block, _ := pem.Decode(certs.ServerCert)
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("fields", func(t *testing.T) {
		c, err := resolveTLS(t, &config.RedisTLS{
			ServerName: "redis.internal", SkipVerify: true, MinimumVersion: "TLS1.3", MaximumVersion: "TLS1.3",
		})
		if err != nil {
			t.Fatal(err)
		}
		if c.ServerName != "redis.internal" || !c.InsecureSkipVerify || c.MinVersion != tls.VersionTLS13 || c.MaxVersion != tls.VersionTLS13 {
			t.Errorf("tls.Config = server name %q, skip %v, versions %x-%x", c.ServerName, c.InsecureSkipVerify, c.MinVersion, c.MaxVersion)
		}
		if c.RootCAs != nil || len(c.Certificates) != 0 {
			t.Error("roots or client certificate set without being configured")
		}
	})

	for _, form := range []struct {
		name string
		ca   string
	}{{"ca_file", certs.CAFile}, {"ca_pem_text", string(certs.CA)}} {
		t.Run(form.name, func(t *testing.T) {
			c, err := resolveTLS(t, &config.RedisTLS{CertificateAuthority: form.ca})
			if err != nil {
				t.Fatal(err)
			}
			// The CA is added to the system roots: it verifies the server.
			if _, err := serverCert(t).Verify(x509.VerifyOptions{Roots: c.RootCAs, DNSName: redistest.ServerName}); err != nil {
				t.Errorf("server certificate does not verify against RootCAs: %v", err)
			}
		})
	}

	for _, form := range []struct {
		name       string
		chain, key string
	}{
		{"client_files", certs.ClientCertFile, certs.ClientKeyFile},
		{"client_pem_text", string(certs.ClientCert), string(certs.ClientKey)},
	} {
		t.Run(form.name, func(t *testing.T) {
			c, err := resolveTLS(t, &config.RedisTLS{CertificateChain: form.chain, PrivateKey: form.key})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Certificates) != 1 {
				t.Fatalf("%d client certificates; want 1", len(c.Certificates))
			}
			leaf, err := x509.ParseCertificate(c.Certificates[0].Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if leaf.Subject.CommonName != "gate" {
				t.Errorf("client certificate CN = %q; want gate", leaf.Subject.CommonName)
			}
		})
	}

	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyOnly := string(certs.ClientKey)
	errs := []struct {
		name    string
		section config.RedisTLS
		want    string
	}{
		{"ca_missing_file", config.RedisTLS{CertificateAuthority: "/nonexistent/ca.pem"}, "session.redis.tls.certificate_authority"},
		{"ca_not_pem", config.RedisTLS{CertificateAuthority: notPEM}, "session.redis.tls.certificate_authority"},
		{"ca_key_instead", config.RedisTLS{CertificateAuthority: keyOnly}, "contains no certificate"},
		{"chain_without_key", config.RedisTLS{CertificateChain: certs.ClientCertFile}, "session.redis.tls.private_key"},
		{"key_without_chain", config.RedisTLS{PrivateKey: certs.ClientKeyFile}, "session.redis.tls.certificate_chain"},
		{"mismatched_pair", config.RedisTLS{CertificateChain: certs.ClientCertFile, PrivateKey: certs.ServerKeyFile}, "does not form a key pair"},
		{"min_above_max", config.RedisTLS{MinimumVersion: "TLS1.3", MaximumVersion: "TLS1.2"}, "above maximum_version"},
		{"bad_max", config.RedisTLS{MaximumVersion: "TLS2"}, "session.redis.tls.maximum_version"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveTLS(t, &tt.section)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Resolve = %v; want an error mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error %q quotes key material", err)
			}
		})
	}
}
