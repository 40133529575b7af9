package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
)

// defaultMinTLS is the oldest TLS version spoken to Redis unless
// minimum_version says otherwise.
const defaultMinTLS = tls.VersionTLS12

// clientConfig builds the client TLS configuration of session.redis.tls,
// key being its key path, and reports every problem; a nil t (rediss://
// without a tls section) gives the defaults. It reads the certificate
// files. The result is complete only when no problem was reported.
//
// ServerName stays empty unless configured: crypto/tls then checks each
// connection's certificate against the host it dialled, which is what a
// Cluster or a Sentinel-discovered master needs, as every node has its own
// name.
func (t *RedisTLS) clientConfig(ps *problems, key string) *tls.Config {
	if t == nil {
		t = &RedisTLS{}
	}
	c := &tls.Config{
		ServerName: t.ServerName,
		// skip_verify is the operator's explicit choice, for test setups;
		// it leaves the connection open to interception.
		InsecureSkipVerify: t.SkipVerify,
	}
	c.MinVersion, c.MaxVersion = t.versions(ps, key)
	if t.CertificateAuthority != "" {
		c.RootCAs = t.roots(ps, key+".certificate_authority")
	}
	if cert, ok := t.clientCertificate(ps, key); ok {
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}

// versions parses minimum_version (TLS 1.2 when empty) and
// maximum_version (crypto/tls's newest when empty).
func (t *RedisTLS) versions(ps *problems, key string) (minV, maxV uint16) {
	minV = defaultMinTLS
	if t.MinimumVersion != "" {
		v, err := ParseTLSVersion(t.MinimumVersion)
		if err != nil {
			ps.add(key+".minimum_version", "%v", err)
		}
		minV = v
	}
	if t.MaximumVersion != "" {
		v, err := ParseTLSVersion(t.MaximumVersion)
		if err != nil {
			ps.add(key+".maximum_version", "%v", err)
		}
		maxV = v
	}
	switch {
	case minV == 0 || maxV == 0 || minV <= maxV:
	case t.MinimumVersion == "":
		ps.add(key+".maximum_version", "%s is below the default minimum_version TLS1.2; set minimum_version too", t.MaximumVersion)
	default:
		ps.add(key+".minimum_version", "%s is above maximum_version %s", t.MinimumVersion, t.MaximumVersion)
	}
	return minV, maxV
}

// roots returns the system roots with certificate_authority added.
func (t *RedisTLS) roots(ps *problems, key string) *x509.CertPool {
	ca, err := ReadPEM(t.CertificateAuthority)
	if err != nil {
		ps.add(key, "%v", err)
		return nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(ca) {
		ps.add(key, "contains no certificate")
		return nil
	}
	return pool
}

// clientCertificate reads certificate_chain and private_key, which come
// together or not at all. ok is false without a client certificate.
func (t *RedisTLS) clientCertificate(ps *problems, key string) (cert tls.Certificate, ok bool) {
	switch {
	case t.CertificateChain != "" && t.PrivateKey == "":
		ps.add(key+".private_key", "required with certificate_chain: a client certificate needs its key")
	case t.CertificateChain == "" && t.PrivateKey != "":
		ps.add(key+".certificate_chain", "required with private_key: a client key needs its certificate")
	}
	var chain, pkey []byte
	if t.CertificateChain != "" {
		b, err := ReadPEM(t.CertificateChain)
		switch {
		case err != nil:
			ps.add(key+".certificate_chain", "%v", err)
		case !hasCertificate(b):
			ps.add(key+".certificate_chain", "contains no certificate")
		default:
			chain = b
		}
	}
	if t.PrivateKey != "" {
		b, err := ReadPEM(t.PrivateKey)
		if err != nil {
			ps.add(key+".private_key", "%v", err)
		} else {
			pkey = b
		}
	}
	if chain == nil || pkey == nil {
		return tls.Certificate{}, false
	}
	cert, err := tls.X509KeyPair(chain, pkey)
	if err != nil {
		// tls errors describe the mismatch, never the key.
		ps.add(key+".private_key", "does not form a key pair with certificate_chain: %v", err)
		return tls.Certificate{}, false
	}
	return cert, true
}

// hasCertificate reports whether b holds at least one parsable certificate.
func hasCertificate(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err == nil {
			return true
		}
	}
}
