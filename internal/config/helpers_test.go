package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gate/internal/config"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// writeFile writes content to name in dir and returns the path.
func writeFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// usersFile writes an (unparsed) users file and returns its path.
func usersFile(tb testing.TB) string {
	tb.Helper()
	return writeFile(tb, tb.TempDir(), "users.yml", "users: {}\n")
}

// baseYAML is the smallest valid configuration.
func baseYAML(tb testing.TB) string {
	tb.Helper()
	return `
portal:
  url: https://auth.example.com
session:
  secret: ` + testSecret + `
  domain: example.com
authentication_backend:
  file:
    path: ` + usersFile(tb) + `
`
}

// validConfig is the smallest valid Config, built in code.
func validConfig(tb testing.TB) config.Config {
	tb.Helper()
	c := config.Default()
	c.Portal.URL = "https://auth.example.com"
	c.Session.Secret = testSecret
	c.Session.Domain = "example.com"
	c.AuthenticationBackend.File.Path = usersFile(tb)
	return c
}

// env serves getenv from a map, so tests never touch the process
// environment.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// loadYAML writes each document to its own file and loads them in order.
func loadYAML(tb testing.TB, getenv map[string]string, docs ...string) (*config.Config, error) {
	tb.Helper()
	dir := tb.TempDir()
	var files []string
	for i, d := range docs {
		files = append(files, writeFile(tb, dir, "config"+string(rune('a'+i))+".yml", d))
	}
	return config.Load(files, env(getenv))
}

// mustLoad loads and fails the test on any problem.
func mustLoad(tb testing.TB, getenv map[string]string, docs ...string) *config.Config {
	tb.Helper()
	c, err := loadYAML(tb, getenv, docs...)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return c
}

// wantProblem asserts that err holds a problem at key whose message
// contains msg.
func wantProblem(tb testing.TB, err error, key, msg string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error; want %s: ...%s...", key, msg)
	}
	for _, p := range config.Problems(err) {
		if p.Key == key && strings.Contains(p.Msg, msg) {
			return
		}
	}
	tb.Fatalf("got\n%v\nwant a problem %s: ...%s...", err, key, msg)
}

// keyPair returns a fresh self-signed certificate and its key, PEM encoded.
func keyPair(tb testing.TB) (certPEM, keyPEM string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gate test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	return certPEM, keyPEM
}
