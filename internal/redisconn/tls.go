package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"gate/internal/config"
)

// tlsConfig builds the client TLS configuration of session.redis.tls.
//
// ServerName stays empty unless configured: crypto/tls then checks each
// connection's certificate against the host it dialled, which is what a
// Cluster or a Sentinel-discovered master needs, as every node has its own
// name.
func tlsConfig(t *config.RedisTLS) (*tls.Config, error) {
	const key = "session.redis.tls"
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: t.ServerName,
		// skip_verify is the operator's explicit choice, for test setups;
		// it leaves the connection open to interception.
		InsecureSkipVerify: t.SkipVerify,
	}
	if t.MinimumVersion != "" {
		v, err := config.ParseTLSVersion(t.MinimumVersion)
		if err != nil {
			return nil, fmt.Errorf("%s.minimum_version: %w", key, err)
		}
		c.MinVersion = v
	}
	if t.MaximumVersion != "" {
		v, err := config.ParseTLSVersion(t.MaximumVersion)
		if err != nil {
			return nil, fmt.Errorf("%s.maximum_version: %w", key, err)
		}
		c.MaxVersion = v
	}
	if c.MaxVersion != 0 && c.MinVersion > c.MaxVersion {
		return nil, fmt.Errorf("%s.minimum_version: above maximum_version", key)
	}

	if t.CertificateAuthority != "" {
		ca, err := config.ReadPEM(t.CertificateAuthority)
		if err != nil {
			return nil, fmt.Errorf("%s.certificate_authority: %w", key, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("%s.certificate_authority: contains no certificate", key)
		}
		c.RootCAs = pool
	}

	switch {
	case t.CertificateChain != "" && t.PrivateKey != "":
		chain, err := config.ReadPEM(t.CertificateChain)
		if err != nil {
			return nil, fmt.Errorf("%s.certificate_chain: %w", key, err)
		}
		pkey, err := config.ReadPEM(t.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("%s.private_key: %w", key, err)
		}
		cert, err := tls.X509KeyPair(chain, pkey)
		if err != nil {
			// tls describes the mismatch, never the key.
			return nil, fmt.Errorf("%s.private_key: does not form a key pair with certificate_chain: %w", key, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case t.CertificateChain != "":
		return nil, errors.New(key + ".private_key: required with certificate_chain")
	case t.PrivateKey != "":
		return nil, errors.New(key + ".certificate_chain: required with private_key")
	}
	return c, nil
}
