package config

import (
	"os"
	"runtime"
	"strings"
	"time"
)

// Defaults applied by Config.Default to zero values.
const (
	DefaultNATSURL                  = "nats://127.0.0.1:4222"
	DefaultSubjectPrefix            = "sipws"
	DefaultAdminAddress             = "127.0.0.1:9090"
	DefaultDrainTimeout             = 10 * time.Second
	DefaultPingInterval             = 25 * time.Second
	DefaultIdleTimeout              = 90 * time.Second
	DefaultPath                     = "/"
	DefaultMaxConnections           = 100000
	DefaultMaxConnectionsPerIP      = 1000
	DefaultHandshakesPerSecondPerIP = 50
	DefaultHandshakeBurstPerIP      = 100
	DefaultHandshakeTimeout         = 10 * time.Second
	DefaultMaxMessageBytes          = 65535
	DefaultSendQueueBytes           = 262144
	DefaultMaxInvalidMessages       = 5
	DefaultMessagesPerSecond        = 50
	DefaultMessageBurst             = 200
	DefaultTLSMinVersion            = "1.2"

	// AdminOff as Admin.Address disables the admin endpoint.
	AdminOff = "off"
	// MaxNodeLen bounds Node: it is carried in every flow token and subject.
	MaxNodeLen = 32
	// MinWorkers and MaxWorkers bound Workers.
	MinWorkers = 4
	MaxWorkers = 4096
)

// Default fills zero values with defaults. It reads $SIPWS_NODE, $POD_NAME and the host name
// when Node is empty. Values that are set, even invalid ones, are left for Validate.
func (c *Config) Default() {
	if c.Node == "" {
		c.Node = defaultNode()
	}
	if c.Workers == 0 {
		c.Workers = min(max(4*runtime.GOMAXPROCS(0), MinWorkers), MaxWorkers)
	}
	if c.DrainTimeout.Duration == 0 {
		c.DrainTimeout = D(DefaultDrainTimeout)
	}
	if c.KeepAlive.PingInterval.Duration == 0 {
		c.KeepAlive.PingInterval = D(DefaultPingInterval)
	}
	if c.KeepAlive.IdleTimeout.Duration == 0 {
		c.KeepAlive.IdleTimeout = D(DefaultIdleTimeout)
	}
	if c.NATS.URL == "" {
		c.NATS.URL = DefaultNATSURL
	}
	if c.NATS.SubjectPrefix == "" {
		c.NATS.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.Admin.Address == "" {
		c.Admin.Address = DefaultAdminAddress
	}
	c.Router.Default()
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Path == "" {
			l.Path = DefaultPath
		}
		if l.TLS != nil && l.TLS.MinVersion == "" {
			l.TLS.MinVersion = DefaultTLSMinVersion
		}
		l.Limits.defaults()
	}
}

func (l *Limits) defaults() {
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&l.MaxConnections, DefaultMaxConnections)
	setInt(&l.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	if l.HandshakesPerSecondPerIP == 0 {
		l.HandshakesPerSecondPerIP = DefaultHandshakesPerSecondPerIP
	}
	setInt(&l.HandshakeBurstPerIP, DefaultHandshakeBurstPerIP)
	if l.HandshakeTimeout.Duration == 0 {
		l.HandshakeTimeout = D(DefaultHandshakeTimeout)
	}
	setInt(&l.MaxMessageBytes, DefaultMaxMessageBytes)
	setInt(&l.SendQueueBytes, DefaultSendQueueBytes)
	setInt(&l.MaxInvalidMessages, DefaultMaxInvalidMessages)
	if l.MessagesPerSecond == 0 {
		l.MessagesPerSecond = DefaultMessagesPerSecond
	}
	setInt(&l.MessageBurst, DefaultMessageBurst)
}

// defaultNode returns "" when nothing usable is found, so Validate reports it rather than
// several edges silently sharing a made-up name.
func defaultNode() string {
	for _, env := range []string{"SIPWS_NODE", "POD_NAME"} {
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			return SanitizeNode(v)
		}
	}
	if h, err := os.Hostname(); err == nil {
		return SanitizeNode(strings.TrimSpace(h))
	}
	return ""
}

// SanitizeNode maps s to a valid node name: bytes outside [A-Za-z0-9_-] become '-' (so the
// name is one NATS subject token) and the result is cut to MaxNodeLen bytes.
func SanitizeNode(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !isTokenByte(c) {
			b[i] = '-'
		}
	}
	if len(b) > MaxNodeLen {
		b = b[:MaxNodeLen]
	}
	return string(b)
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// isToken reports whether s is a non-empty NATS subject token made of [A-Za-z0-9_-].
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}
