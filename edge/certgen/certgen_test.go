package certgen

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func leaf(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestEnsureSelfSignedNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "tls")
	certFile, keyFile, err := EnsureSelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if certFile != filepath.Join(dir, "tls.crt") || keyFile != filepath.Join(dir, "tls.key") {
		t.Errorf("files = %s, %s", certFile, keyFile)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode = %v", m)
	}
	if m := mode(t, keyFile); m != 0o600 {
		t.Errorf("key mode = %v", m)
	}
	c := leaf(t, certFile, keyFile)
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", c.PublicKey)
	}
	if !slices.Equal(c.DNSNames, []string{"localhost"}) || len(c.IPAddresses) != 2 ||
		!c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("SANs = %v %v", c.DNSNames, c.IPAddresses)
	}
	if d := c.NotAfter.Sub(time.Now()); d < Validity-time.Minute || d > Validity+time.Minute {
		t.Errorf("valid for %v more", d)
	}
	if c.IsCA || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("IsCA %v, ext key usage %v", c.IsCA, c.ExtKeyUsage)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries, want 2 (temporary files left?)", len(entries))
	}
}

func TestEnsureSelfSignedReuse(t *testing.T) {
	dir := t.TempDir()
	certFile, _, err := EnsureSelfSigned(dir, []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(certFile)
	// A subset of the hosts, with brackets and spaces, is covered: reuse.
	if _, _, err := EnsureSelfSigned(dir, []string{" localhost ", "[127.0.0.1]"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(certFile)
	if !bytes.Equal(before, after) {
		t.Error("certificate regenerated although valid")
	}
}

func TestEnsureSelfSignedRegenerates(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		hosts []string
	}{
		{"expiring", func(t *testing.T, dir string) {
			c, k, err := generate(DefaultHosts, now.Add(-360*24*time.Hour), now.Add(6*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			writeFiles(t, dir, c, k)
		}, nil},
		{"not yet valid", func(t *testing.T, dir string) {
			c, k, err := generate(DefaultHosts, now.Add(48*time.Hour), now.Add(Validity))
			if err != nil {
				t.Fatal(err)
			}
			writeFiles(t, dir, c, k)
		}, nil},
		{"new host", func(t *testing.T, dir string) {
			if _, _, err := EnsureSelfSigned(dir, nil); err != nil {
				t.Fatal(err)
			}
		}, []string{"localhost", "sip.test"}},
		{"garbage", func(t *testing.T, dir string) { writeFiles(t, dir, []byte("x"), []byte("y")) }, nil},
		{"mismatched key", func(t *testing.T, dir string) {
			c, _, _ := generate(DefaultHosts, now, now.Add(Validity))
			_, k, _ := generate(DefaultHosts, now, now.Add(Validity))
			writeFiles(t, dir, c, k)
		}, nil},
		{"key missing", func(t *testing.T, dir string) {
			c, _, _ := generate(DefaultHosts, now, now.Add(Validity))
			writeFiles(t, dir, c, nil)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			before, _ := os.ReadFile(filepath.Join(dir, CertFileName))
			certFile, keyFile, err := EnsureSelfSigned(dir, tt.hosts)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(certFile)
			if bytes.Equal(before, after) {
				t.Fatal("certificate not regenerated")
			}
			c := leaf(t, certFile, keyFile)
			if c.NotAfter.Sub(now) < Validity-time.Minute {
				t.Errorf("new certificate expires %v", c.NotAfter)
			}
			for _, h := range cleanHosts(tt.hosts) {
				if err := c.VerifyHostname(h); err != nil {
					t.Error(err)
				}
			}
			if m := mode(t, keyFile); m != 0o600 {
				t.Errorf("key mode = %v", m)
			}
		})
	}
}

func writeFiles(t *testing.T, dir string, cert, key []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, CertFileName), cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if key != nil {
		if err := os.WriteFile(filepath.Join(dir, KeyFileName), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHandshake checks the certificate is usable: a client that trusts it verifies each SAN.
func TestHandshake(t *testing.T) {
	certFile, keyFile, err := EnsureSelfSigned(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := os.ReadFile(certFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	for _, host := range DefaultHosts {
		t.Run(host, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			srv := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{pair}})
			errc := make(chan error, 1)
			go func() { errc <- srv.Handshake() }()
			cli := tls.Client(b, &tls.Config{RootCAs: roots, ServerName: host})
			cli.SetDeadline(time.Now().Add(10 * time.Second))
			if err := cli.Handshake(); err != nil {
				t.Fatalf("client: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("server: %v", err)
			}
		})
	}
}
