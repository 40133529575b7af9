package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ServerName is the DNS name in the server certificate besides localhost;
// 127.0.0.1 and ::1 are in it too.
const ServerName = "redis.gate.test"

// Certs is a CA made for one test run, a server certificate and a client
// certificate it signed, as PEM text and as files.
type Certs struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey                     []byte
	CAFile, ServerCertFile, ServerKeyFile, ClientCertFile, ClientKeyFile string
}

// NewCerts makes the certificates and writes them to a directory removed
// with the test.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir, err := os.MkdirTemp("", "rcerts")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	caKey, caDER := makeCert(t, nil, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "gate test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	})
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, srvDER := makeCert(t, caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: ServerName},
		DNSNames:    []string{ServerName, "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		// Redis presents the server certificate to its replicas and
		// cluster peers as a client too.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	cliKey, cliDER := makeCert(t, caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "gate"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})

	c := &Certs{
		CA:         pemBlock("CERTIFICATE", caDER),
		ServerCert: pemBlock("CERTIFICATE", srvDER),
		ServerKey:  keyPEM(t, srvKey),
		ClientCert: pemBlock("CERTIFICATE", cliDER),
		ClientKey:  keyPEM(t, cliKey),
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c.CAFile = write("ca.crt", c.CA)
	c.ServerCertFile = write("server.crt", c.ServerCert)
	c.ServerKeyFile = write("server.key", c.ServerKey)
	c.ClientCertFile = write("client.crt", c.ClientCert)
	c.ClientKeyFile = write("client.key", c.ClientKey)
	return c
}

// makeCert signs tmpl with parent and parentKey, or self-signs it when
// parent is nil.
func makeCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = sn
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func keyPEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}
