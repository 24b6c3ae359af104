// Package certgen makes the self-signed certificate that local mode serves WSS with.
package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// CertFileName and KeyFileName are the names used inside dir (as in a Kubernetes TLS Secret).
	CertFileName = "tls.crt"
	KeyFileName  = "tls.key"
	// Validity is how long a new certificate lasts.
	Validity = 365 * 24 * time.Hour
	// RenewBefore: a certificate with less than this left is replaced.
	RenewBefore = 7 * 24 * time.Hour
)

// DefaultHosts are the SANs used when EnsureSelfSigned is given none.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// EnsureSelfSigned returns dir/tls.crt and dir/tls.key. They are reused when they form a valid
// pair that covers every host and is valid for at least RenewBefore more; otherwise a new
// ECDSA P-256 self-signed certificate with hosts as SANs (IP addresses and DNS names) valid
// for Validity is written. dir is created 0700 and the key written 0600.
func EnsureSelfSigned(dir string, hosts []string) (certFile, keyFile string, err error) {
	return ensure(dir, hosts, time.Now())
}

func ensure(dir string, hosts []string, now time.Time) (certFile, keyFile string, err error) {
	hosts = cleanHosts(hosts)
	certFile, keyFile = filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName)
	if reusable(certFile, keyFile, hosts, now) {
		return certFile, keyFile, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("certgen: %w", err)
	}
	certPEM, keyPEM, err := generate(hosts, now, now.Add(Validity))
	if err != nil {
		return "", "", fmt.Errorf("certgen: %w", err)
	}
	// Key first: a reader that sees the new certificate with the old key fails to load the
	// pair and regenerates, rather than serving a mismatched pair.
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("certgen: %w", err)
	}
	if err := writeAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("certgen: %w", err)
	}
	return certFile, keyFile, nil
}

func cleanHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]")
		if h != "" {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return DefaultHosts
	}
	return out
}

func reusable(certFile, keyFile string, hosts []string, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return false
	}
	leaf := pair.Leaf
	if leaf == nil { // GODEBUG=x509keypairleaf=0
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return false
		}
	}
	if now.Before(leaf.NotBefore) || leaf.NotAfter.Sub(now) < RenewBefore {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func generate(hosts []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"sipws local"}},
		// Back-dated an hour so a client with a slightly slow clock accepts it at once.
		NotBefore:             notBefore.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writeAtomic writes via a temporary file and rename so a concurrent reader (or the edge's
// certificate watcher) never sees a half-written file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
