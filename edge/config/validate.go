package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Bounds checked by Validate.
const (
	MinMessageBytes  = 256
	MaxMessageBytes  = 16 << 20
	MinPingInterval  = time.Second
	maxListenerLabel = 63
)

// FieldError is one validation problem; Field is the YAML path, e.g. "listeners[1].tls".
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate reports every problem at once (errors.Join of *FieldError), so one reload shows
// all mistakes. It expects Default to have run: zero values it would fill are errors here.
func (c *Config) Validate() error {
	var p problems
	switch {
	case c.Gateway == "":
		p.add("gateway", "required")
	case !isToken(c.Gateway):
		p.add("gateway", "%q must match [A-Za-z0-9_-]+ (it is one NATS subject token)", c.Gateway)
	}
	switch {
	case c.Node == "":
		p.add("node", "required (set node, $SIPWS_NODE or $POD_NAME)")
	case !isToken(c.Node) || len(c.Node) > MaxNodeLen:
		p.add("node", "%q must match [A-Za-z0-9_-]+ and be at most %d bytes", c.Node, MaxNodeLen)
	}
	if c.Workers < 1 || c.Workers > MaxWorkers {
		p.add("workers", "%d must be between 1 and %d", c.Workers, MaxWorkers)
	}
	if c.DrainTimeout.Duration < 0 {
		p.add("drainTimeout", "must not be negative")
	}
	c.KeepAlive.validate(&p)
	if !isToken(c.NATS.SubjectPrefix) {
		p.add("nats.subjectPrefix", "%q must match [A-Za-z0-9_-]+ (it is one NATS subject token)", c.NATS.SubjectPrefix)
	}
	if (c.NATS.CertFile == "") != (c.NATS.KeyFile == "") {
		p.add("nats.certFile", "certFile and keyFile must be set together")
	}

	if len(c.Listeners) == 0 {
		p.add("listeners", "at least one listener is required")
	}
	names := map[string]int{}
	var addrs []listenAddr // parsed addresses, index-aligned with Listeners (nil host on error)
	for i := range c.Listeners {
		l := &c.Listeners[i]
		f := fmt.Sprintf("listeners[%d]", i)
		switch {
		case l.Name == "":
			p.add(f+".name", "required")
		case !isDNSLabel(l.Name):
			p.add(f+".name", "%q must be a DNS label: [a-z0-9-], at most %d bytes, alphanumeric at both ends", l.Name, maxListenerLabel)
		default:
			if j, dup := names[l.Name]; dup {
				p.add(f+".name", "%q duplicates listeners[%d].name", l.Name, j)
			} else {
				names[l.Name] = i
			}
		}
		a, err := parseListenAddr(l.Address)
		if err != nil {
			p.add(f+".address", "%v", err)
		} else {
			for j, b := range addrs {
				if b.valid && a.conflicts(b) {
					p.add(f+".address", "%q conflicts with listeners[%d].address %q", l.Address, j, c.Listeners[j].Address)
					break
				}
			}
		}
		addrs = append(addrs, a)
		l.validate(f, &p)
	}

	if c.Admin.Address != AdminOff {
		a, err := parseListenAddr(c.Admin.Address)
		if err != nil {
			p.add("admin.address", "%v (or %q)", err, AdminOff)
		} else {
			for j, b := range addrs {
				if b.valid && a.conflicts(b) {
					p.add("admin.address", "%q conflicts with listeners[%d].address %q", c.Admin.Address, j, c.Listeners[j].Address)
					break
				}
			}
		}
	}
	c.Router.validate(&p)
	return errors.Join(p...)
}

func (l *Listener) validate(f string, p *problems) {
	switch l.Protocol {
	case "wss":
		switch {
		case l.TLS == nil:
			p.add(f+".tls", "required when protocol is wss")
		case len(l.TLS.Certificates) == 0:
			p.add(f+".tls.certificates", "at least one certificate is required")
		}
	case "ws":
		if l.TLS != nil {
			p.add(f+".tls", "not allowed when protocol is ws (use wss)")
		}
	case "":
		p.add(f+".protocol", "required (ws or wss)")
	default:
		p.add(f+".protocol", "%q must be ws or wss", l.Protocol)
	}
	if l.TLS != nil {
		for k, cert := range l.TLS.Certificates {
			cf := fmt.Sprintf("%s.tls.certificates[%d]", f, k)
			if cert.CertFile == "" {
				p.add(cf+".certFile", "required")
			}
			if cert.KeyFile == "" {
				p.add(cf+".keyFile", "required")
			}
		}
		if _, ok := tlsVersions[l.TLS.MinVersion]; !ok {
			p.add(f+".tls.minVersion", "%q must be \"1.2\" or \"1.3\"", l.TLS.MinVersion)
		}
	}
	switch {
	case !strings.HasPrefix(l.Path, "/"):
		p.add(f+".path", "%q must start with '/'", l.Path)
	case strings.ContainsAny(l.Path, "?#") || strings.ContainsFunc(l.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		// The handshake matches the path without its query, so these could never match.
		p.add(f+".path", "%q must not contain '?', '#', spaces or control characters", l.Path)
	}
	for k, o := range l.AllowedOrigins {
		if err := validateOriginPattern(o); err != nil {
			p.add(fmt.Sprintf("%s.allowedOrigins[%d]", f, k), "%v", err)
		}
	}
	l.Limits.validate(f+".limits", p)
}

func (l *Limits) validate(f string, p *problems) {
	nonNeg := func(name string, v int) {
		if v < 0 {
			p.add(f+"."+name, "%d must not be negative", v)
		}
	}
	nonNeg("maxConnections", l.MaxConnections)
	nonNeg("maxConnectionsPerIP", l.MaxConnectionsPerIP)
	nonNeg("handshakeBurstPerIP", l.HandshakeBurstPerIP)
	nonNeg("maxInvalidMessages", l.MaxInvalidMessages)
	nonNeg("messageBurst", l.MessageBurst)
	if !(l.HandshakesPerSecondPerIP >= 0) || math.IsInf(l.HandshakesPerSecondPerIP, 0) {
		p.add(f+".handshakesPerSecondPerIP", "%v must be a finite, non-negative number", l.HandshakesPerSecondPerIP)
	}
	if !(l.MessagesPerSecond >= 0) || math.IsInf(l.MessagesPerSecond, 0) {
		p.add(f+".messagesPerSecond", "%v must be a finite, non-negative number", l.MessagesPerSecond)
	}
	if l.HandshakeTimeout.Duration <= 0 {
		p.add(f+".handshakeTimeout", "%s must be positive", l.HandshakeTimeout.Duration)
	}
	if l.MaxMessageBytes < MinMessageBytes || l.MaxMessageBytes > MaxMessageBytes {
		p.add(f+".maxMessageBytes", "%d must be between %d and %d", l.MaxMessageBytes, MinMessageBytes, MaxMessageBytes)
	}
	if l.SendQueueBytes < l.MaxMessageBytes {
		// A queue smaller than one message would close every client that is sent a large one.
		p.add(f+".sendQueueBytes", "%d must be at least maxMessageBytes (%d)", l.SendQueueBytes, l.MaxMessageBytes)
	}
}

func (k *KeepAlive) validate(p *problems) {
	if k.PingInterval.Duration < MinPingInterval {
		p.add("keepAlive.pingInterval", "%s must be at least %s", k.PingInterval.Duration, MinPingInterval)
	} else if k.PingInterval.Duration >= k.IdleTimeout.Duration {
		// Otherwise a healthy but quiet client is timed out before it is ever pinged.
		p.add("keepAlive.pingInterval", "%s must be less than keepAlive.idleTimeout (%s)", k.PingInterval.Duration, k.IdleTimeout.Duration)
	}
}

var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// TLSMinVersion returns the crypto/tls constant for MinVersion (TLS 1.2 if unset or invalid).
func (t *TLS) TLSMinVersion() uint16 {
	if v, ok := tlsVersions[t.MinVersion]; ok {
		return v
	}
	return tls.VersionTLS12
}

// Enabled reports whether the admin endpoint should be served.
func (a Admin) Enabled() bool { return a.Address != AdminOff && a.Address != "" }

func isDNSLabel(s string) bool {
	if s == "" || len(s) > maxListenerLabel || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// listenAddr is a parsed host:port; host is canonical ("" for the wildcard).
type listenAddr struct {
	host  string
	port  uint16
	valid bool
}

func parseListenAddr(s string) (listenAddr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return listenAddr{}, fmt.Errorf("%q is not host:port", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return listenAddr{}, fmt.Errorf("%q: port must be a number from 0 to 65535", s)
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
		if ip.IsUnspecified() {
			host = ""
		}
	} else if host != "" {
		if !validHostname(host) {
			return listenAddr{}, fmt.Errorf("%q: invalid host", s)
		}
		host = strings.ToLower(host)
	}
	return listenAddr{host: host, port: uint16(n), valid: true}, nil
}

// conflicts reports whether both cannot be bound at once. Port 0 picks a free port, so it
// never conflicts; a wildcard host takes the port on every address.
func (a listenAddr) conflicts(b listenAddr) bool {
	if a.port == 0 || a.port != b.port {
		return false
	}
	return a.host == b.host || a.host == "" || b.host == ""
}

// ListenerChanges reports whether the set of listeners (name, address, protocol) differs from
// old's. Such changes need a restart; path, TLS certificates, origins and limits are hot-swapped.
func (c *Config) ListenerChanges(old *Config) bool {
	if old == nil || len(c.Listeners) != len(old.Listeners) {
		return true
	}
	type key struct{ address, protocol string }
	was := make(map[string]key, len(old.Listeners))
	for _, l := range old.Listeners {
		was[l.Name] = key{l.Address, l.Protocol}
	}
	for _, l := range c.Listeners {
		if k, ok := was[l.Name]; !ok || k != (key{l.Address, l.Protocol}) {
			return true
		}
	}
	return false
}

// RestartRequired lists the fields that differ from old and are only read at start-up:
// the listener set (see ListenerChanges), gateway, node, workers, nats, flowToken and admin.
// Everything else is applied by a hot reload. Empty means the new config can be swapped in
// completely.
func (c *Config) RestartRequired(old *Config) []string {
	if old == nil {
		return []string{"listeners", "gateway", "node", "workers", "nats", "flowToken", "admin"}
	}
	var fields []string
	if c.ListenerChanges(old) {
		fields = append(fields, "listeners")
	}
	if c.Gateway != old.Gateway {
		fields = append(fields, "gateway")
	}
	if c.Node != old.Node {
		fields = append(fields, "node")
	}
	if c.Workers != old.Workers {
		fields = append(fields, "workers")
	}
	if c.NATS != old.NATS {
		fields = append(fields, "nats")
	}
	if c.FlowToken != old.FlowToken {
		fields = append(fields, "flowToken")
	}
	if c.Admin != old.Admin {
		fields = append(fields, "admin")
	}
	return fields
}

// CertificateFiles lists every certificate and key file of every listener, in order, e.g.
// for FileHash to detect rotation.
func (c *Config) CertificateFiles() []string {
	var files []string
	for _, l := range c.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, cert := range l.TLS.Certificates {
			files = append(files, cert.CertFile, cert.KeyFile)
		}
	}
	return files
}
