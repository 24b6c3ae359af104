package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sipws/sipws/edge/config"
)

// certStore holds a listener's certificates and picks one by SNI. Reload swaps the whole set
// atomically; handshakes in progress keep the set they started with and open flows are not
// touched.
type certStore struct {
	set   atomic.Pointer[certSet]
	mu    sync.Mutex // serialises reloads; get never takes it
	files []config.Certificate
	hash  [32]byte
}

type certSet struct {
	certs  []*tls.Certificate
	byName map[string]*tls.Certificate // exact DNS names and "*.domain" wildcards
}

func newCertStore(files []config.Certificate) (*certStore, error) {
	s := &certStore{}
	if _, err := s.reload(files); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads the files again when their content changed; it reports whether it swapped.
func (s *certStore) reload(files []config.Certificate) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var paths []string
	for _, f := range files {
		paths = append(paths, f.CertFile, f.KeyFile)
	}
	h, err := config.FileHash(paths...)
	if err != nil {
		return false, fmt.Errorf("certificates: %w", err)
	}
	if s.set.Load() != nil && h == s.hash && sameFiles(files, s.files) {
		return false, nil
	}
	set := &certSet{byName: make(map[string]*tls.Certificate)}
	for _, f := range files {
		c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return false, fmt.Errorf("certificate %s: %w", f.CertFile, err)
		}
		if c.Leaf == nil {
			if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return false, fmt.Errorf("certificate %s: %w", f.CertFile, err)
			}
		}
		set.certs = append(set.certs, &c)
		for _, n := range c.Leaf.DNSNames {
			n = strings.ToLower(n)
			if _, dup := set.byName[n]; !dup {
				set.byName[n] = &c
			}
		}
	}
	s.set.Store(set)
	s.files, s.hash = files, h
	return true, nil
}

func sameFiles(a, b []config.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// get chooses the certificate for a ClientHello: exact name, then wildcard, then the first.
func (s *certStore) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	set := s.set.Load()
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if c := set.byName[name]; c != nil {
			return c, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c := set.byName["*"+name[i:]]; c != nil {
				return c, nil
			}
		}
	}
	return set.certs[0], nil
}
