package config_test

import (
	"crypto/tls"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"gate/internal/config"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantNetwork string
		wantAddress string
	}{
		{"tcp_url", "tcp://0.0.0.0:9091", "tcp", "0.0.0.0:9091"},
		{"tcp4_url", "tcp4://127.0.0.1:80", "tcp4", "127.0.0.1:80"},
		{"tcp6_url", "tcp6://[::1]:80", "tcp6", "[::1]:80"},
		{"host_port", "localhost:9091", "tcp", "localhost:9091"},
		{"port_only", ":9091", "tcp", ":9091"},
		{"ipv6", "[::]:9091", "tcp", "[::]:9091"},
		{"port_zero", "127.0.0.1:0", "tcp", "127.0.0.1:0"},
		{"unix", "unix:///run/gate.sock", "unix", "/run/gate.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network, address, err := config.ParseAddress(tt.in)
			if err != nil {
				t.Fatalf("ParseAddress(%q) error: %v", tt.in, err)
			}
			if network != tt.wantNetwork || address != tt.wantAddress {
				t.Errorf("ParseAddress(%q) = %q, %q; want %q, %q", tt.in, network, address, tt.wantNetwork, tt.wantAddress)
			}
		})
	}
}

func TestParseAddressErrors(t *testing.T) {
	for _, in := range []string{"", "9091", "host", ":http", ":65536", ":-1", "udp://:53", "http://:80", "unix://relative.sock", "tcp://:9091/path", "bad host:80", "[::1:80"} {
		t.Run(strings.NewReplacer("/", "_", ":", "_").Replace(in), func(t *testing.T) {
			if n, a, err := config.ParseAddress(in); err == nil {
				t.Errorf("ParseAddress(%q) = %q, %q; want error", in, n, a)
			}
		})
	}
}

func TestTrustedPrefixes(t *testing.T) {
	got, err := config.Server{TrustedProxies: []string{"10.0.0.0/8", "10.1.2.3/16", "192.0.2.1", "2001:db8::1", "fc00::/7", "::ffff:192.0.2.9", "::ffff:10.0.0.0/104"}}.TrustedPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8::1/128"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("192.0.2.9/32"),
		netip.MustParsePrefix("10.0.0.0/8"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("prefix %d = %v; want %v", i, got[i], want[i])
		}
	}
}

func TestTrustedPrefixesErrors(t *testing.T) {
	for _, in := range []string{"", "10.0.0.0/33", "10.0.0", "fe80::1%eth0", "proxy", "10.0.0.0/8/8", "::ffff:10.0.0.0/88", " 10.0.0.0/8"} {
		t.Run(strings.NewReplacer("/", "_", ".", "_", ":", "_").Replace(in), func(t *testing.T) {
			_, err := config.Server{TrustedProxies: []string{"10.0.0.0/8", in}}.TrustedPrefixes()
			wantProblem(t, err, "server.trusted_proxies[1]", "invalid CIDR")
		})
	}
}

func TestParseTLSVersion(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		{"TLS1.0", tls.VersionTLS10},
		{"TLS1.1", tls.VersionTLS11},
		{"TLS1.2", tls.VersionTLS12},
		{"TLS1.3", tls.VersionTLS13},
		{"1.2", tls.VersionTLS12},
		{"tls1.3", tls.VersionTLS13},
		{"TLSv1.2", tls.VersionTLS12},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.in, ".", "_"), func(t *testing.T) {
			got, err := config.ParseTLSVersion(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseTLSVersion(%q) = %#x, %v; want %#x", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []string{"", "SSL3.0", "TLS1.4", "1", "TLS"} {
		t.Run("reject_"+strings.ReplaceAll(in, ".", "_"), func(t *testing.T) {
			if got, err := config.ParseTLSVersion(in); err == nil {
				t.Errorf("ParseTLSVersion(%q) = %#x; want error", in, got)
			}
		})
	}
}

func TestReadPEM(t *testing.T) {
	cert, _ := keyPair(t)
	dir := t.TempDir()
	file := writeFile(t, dir, "cert.pem", cert)
	tests := []struct {
		name string
		in   string
	}{
		{"pem_text", cert},
		{"file", file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.ReadPEM(tt.in)
			if err != nil {
				t.Fatalf("ReadPEM error: %v", err)
			}
			if string(got) != cert {
				t.Errorf("ReadPEM = %q; want %q", got, cert)
			}
		})
	}
	errs := []struct {
		name string
		in   string
		msg  string
	}{
		{"empty", "", "empty"},
		{"missing_file", filepath.Join(dir, "missing"), "no such file"},
		{"directory", dir, "is a directory"},
		{"file_without_pem", writeFile(t, dir, "plain", "hunter2"), "no PEM data"},
		{"text_without_pem", "-----BEGIN hunter2", "no PEM data"},
		{"secret_looking_value", "MIIEhunter2", "not a readable file"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.ReadPEM(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("ReadPEM(%q) = %v; want an error containing %q", tt.in, err, tt.msg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes the value or content", err)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	c := validConfig(t)
	c.Log.Level = "loud"
	c.Session.Secret = ""
	ps := config.Problems(c.Validate())
	if got, want := len(ps), 2; got != want {
		t.Fatalf("got %d problems %v; want %d", got, ps, want)
	}
	if got, want := ps[0].Error(), `log.level: must be debug, info, warn or error, got "loud"`; got != want {
		t.Errorf("ps[0] = %q; want %q", got, want)
	}
	if got, want := ps[1].Key, "session.secret"; got != want {
		t.Errorf("ps[1].Key = %q; want %q", got, want)
	}
	if got := config.Problems(nil); got != nil {
		t.Errorf("Problems(nil) = %v; want nil", got)
	}
}
