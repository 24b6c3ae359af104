package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const minimal = `
gateway: gw
node: n1
listeners:
  - name: ws
    address: 127.0.0.1:0
    protocol: ws
`

// listener returns a config with one listener whose body (indented YAML) is given.
func listener(body string) string {
	return "gateway: gw\nnode: n1\nlisteners:\n  - name: l\n    address: 127.0.0.1:0\n" + body
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, c *Config)
	}{
		{"minimal", minimal, nil},
		{"json", `{"gateway":"gw","node":"n1","listeners":[{"name":"ws","address":":8080","protocol":"ws"}]}`, nil},
		{"json with tabs", "{\n\t\"gateway\": \"gw\",\n\t\"node\": \"n1\",\n\t\"listeners\": [{\"name\": \"ws\", \"address\": \":0\", \"protocol\": \"ws\"}]\n}", nil},
		{"wss", listener("    protocol: wss\n    tls:\n      certificates:\n        - {certFile: a.crt, keyFile: a.key}\n      minVersion: \"1.3\"\n"),
			func(t *testing.T, c *Config) {
				if got := c.Listeners[0].TLS.MinVersion; got != "1.3" {
					t.Errorf("minVersion = %q", got)
				}
			}},
		{"minVersion unquoted", listener("    protocol: wss\n    tls: {certificates: [{certFile: a, keyFile: b}], minVersion: 1.3}\n"),
			func(t *testing.T, c *Config) {
				if got := c.Listeners[0].TLS.TLSMinVersion(); got != 0x0304 {
					t.Errorf("TLSMinVersion = %x", got)
				}
			}},
		{"durations as strings and seconds", minimal + "keepAlive: {pingInterval: 1m, idleTimeout: 150}\ndrainTimeout: 1.5\n",
			func(t *testing.T, c *Config) {
				if c.KeepAlive.PingInterval.Duration != time.Minute || c.KeepAlive.IdleTimeout.Duration != 150*time.Second {
					t.Errorf("keepAlive = %+v", c.KeepAlive)
				}
				if c.DrainTimeout.Duration != 1500*time.Millisecond {
					t.Errorf("drainTimeout = %v", c.DrainTimeout)
				}
			}},
		{"two listeners on port 0", minimal + "  - {name: ws2, address: '127.0.0.1:0', protocol: ws}\n", nil},
		{"same port different hosts", "gateway: gw\nnode: n\nlisteners:\n  - {name: a, address: '127.0.0.1:80', protocol: ws}\n  - {name: b, address: '[::1]:80', protocol: ws}\n", nil},
		{"origins", listener("    protocol: ws\n    allowedOrigins: ['*', 'null', 'https://a.example.com', 'https://*.example.com:8443', 'http://[::1]:8080', 'capacitor://localhost']\n"), nil},
		{"admin off", minimal + "admin: {address: \"off\"}\n",
			func(t *testing.T, c *Config) {
				if c.Admin.Enabled() {
					t.Error("admin enabled")
				}
			}},
		{"limits", listener("    protocol: ws\n    limits: {maxMessageBytes: 256, sendQueueBytes: 256, handshakesPerSecondPerIP: 0.5}\n"), nil},
		{"nats", minimal + "nats: {url: 'nats://a:4222,nats://b:4222', certFile: c, keyFile: k, subjectPrefix: x_y-1}\n",
			func(t *testing.T, c *Config) {
				if c.NATS.URL != "nats://a:4222,nats://b:4222" || c.NATS.SubjectPrefix != "x_y-1" {
					t.Errorf("nats = %+v", c.NATS)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.input))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	wss := func(tls string) string { return listener("    protocol: wss\n" + tls) }
	tests := []struct {
		name  string
		input string
		want  []string // substrings the error must contain, usually field paths
	}{
		{"empty", "", []string{"gateway: required", "listeners: at least one"}},
		{"unknown field", minimal + "bogus: 1\n", []string{`unknown field "bogus"`}},
		{"unknown nested field", listener("    protocol: ws\n    limits: {maxConection: 1}\n"), []string{`unknown field "maxConection"`}},
		{"unknown field json", `{"gateway":"gw","listenerz":[]}`, []string{`unknown field "listenerz"`}},
		{"json number for string", `{"gateway":"gw","node":"n","listeners":[{"name":"a","address":":0","protocol":"wss","tls":{"certificates":[{"certFile":"a","keyFile":"b"}],"minVersion":1.3}}]}`, []string{"minVersion"}},
		{"duplicate key", minimal + "gateway: other\n", []string{"gateway"}},
		{"not a mapping", "- a\n- b\n", []string{"decode"}},
		{"bad duration", minimal + "drainTimeout: soon\n", []string{`invalid duration "soon"`}},
		{"gateway token", strings.Replace(minimal, "gateway: gw", "gateway: a.b", 1), []string{"gateway: \"a.b\""}},
		{"node token", strings.Replace(minimal, "node: n1", "node: a b", 1), []string{"node: "}},
		{"node too long", strings.Replace(minimal, "node: n1", "node: "+strings.Repeat("n", 33), 1), []string{"node: "}},
		{"no listeners", "gateway: gw\nnode: n\nlisteners: []\n", []string{"listeners: at least one listener"}},
		{"listener name missing", "gateway: gw\nnode: n\nlisteners:\n  - {address: ':0', protocol: ws}\n", []string{"listeners[0].name: required"}},
		{"listener name not a label", "gateway: gw\nnode: n\nlisteners:\n  - {name: Web_1, address: ':0', protocol: ws}\n", []string{"listeners[0].name:"}},
		{"listener name duplicate", minimal + "  - {name: ws, address: ':0', protocol: ws}\n", []string{"listeners[1].name: \"ws\" duplicates listeners[0].name"}},
		{"address not host:port", strings.Replace(listener("    protocol: ws\n"), "127.0.0.1:0", "8080", 1), []string{"listeners[0].address:"}},
		{"address named port", strings.Replace(listener("    protocol: ws\n"), "127.0.0.1:0", "localhost:http", 1), []string{"listeners[0].address:"}},
		{"address duplicate", "gateway: gw\nnode: n\nlisteners:\n  - {name: a, address: '127.0.0.1:80', protocol: ws}\n  - {name: b, address: '127.0.0.1:80', protocol: ws}\n", []string{"listeners[1].address:", "conflicts with listeners[0]"}},
		{"address wildcard conflict", "gateway: gw\nnode: n\nlisteners:\n  - {name: a, address: ':80', protocol: ws}\n  - {name: b, address: '127.0.0.1:80', protocol: ws}\n", []string{"listeners[1].address:"}},
		{"protocol missing", listener(""), []string{"listeners[0].protocol: required"}},
		{"protocol bad", listener("    protocol: http\n"), []string{"listeners[0].protocol:"}},
		{"wss without tls", wss(""), []string{"listeners[0].tls: required when protocol is wss"}},
		{"wss without certificates", wss("    tls: {certificates: []}\n"), []string{"listeners[0].tls.certificates: at least one"}},
		{"wss empty files", wss("    tls: {certificates: [{certFile: '', keyFile: ''}]}\n"), []string{"listeners[0].tls.certificates[0].certFile: required", "listeners[0].tls.certificates[0].keyFile: required"}},
		{"tls version", wss("    tls: {certificates: [{certFile: a, keyFile: b}], minVersion: '1.1'}\n"), []string{"listeners[0].tls.minVersion:"}},
		{"ws with tls", listener("    protocol: ws\n    tls: {certificates: [{certFile: a, keyFile: b}]}\n"), []string{"listeners[0].tls: not allowed"}},
		{"path relative", listener("    protocol: ws\n    path: sip\n"), []string{"listeners[0].path:"}},
		{"path with query", listener("    protocol: ws\n    path: /sip?x=1\n"), []string{"listeners[0].path:"}},
		{"origin with path", listener("    protocol: ws\n    allowedOrigins: ['https://a.com/']\n"), []string{"listeners[0].allowedOrigins[0]:"}},
		{"origin no scheme", listener("    protocol: ws\n    allowedOrigins: ['ok://a', 'a.com']\n"), []string{"listeners[0].allowedOrigins[1]:"}},
		{"origin bad port", listener("    protocol: ws\n    allowedOrigins: ['https://a.com:99999']\n"), []string{"listeners[0].allowedOrigins[0]:"}},
		{"origin wildcard ip", listener("    protocol: ws\n    allowedOrigins: ['https://*.1.2.3.4']\n"), []string{"listeners[0].allowedOrigins[0]:"}},
		{"origin inner wildcard", listener("    protocol: ws\n    allowedOrigins: ['https://a.*.com']\n"), []string{"listeners[0].allowedOrigins[0]:"}},
		{"negative limits", listener("    protocol: ws\n    limits: {maxConnections: -1, maxConnectionsPerIP: -1, handshakeBurstPerIP: -1, maxInvalidMessages: -1, handshakesPerSecondPerIP: -1, handshakeTimeout: -1s}\n"),
			[]string{"limits.maxConnections:", "limits.maxConnectionsPerIP:", "limits.handshakeBurstPerIP:", "limits.maxInvalidMessages:", "limits.handshakesPerSecondPerIP:", "limits.handshakeTimeout:"}},
		{"message too small", listener("    protocol: ws\n    limits: {maxMessageBytes: 255}\n"), []string{"listeners[0].limits.maxMessageBytes:"}},
		{"message too large", listener("    protocol: ws\n    limits: {maxMessageBytes: 16777217, sendQueueBytes: 33554432}\n"), []string{"listeners[0].limits.maxMessageBytes:"}},
		{"send queue below message", listener("    protocol: ws\n    limits: {maxMessageBytes: 1000, sendQueueBytes: 999}\n"), []string{"listeners[0].limits.sendQueueBytes:"}},
		{"ping too short", minimal + "keepAlive: {pingInterval: 500ms}\n", []string{"keepAlive.pingInterval:"}},
		{"ping not below idle", minimal + "keepAlive: {pingInterval: 90s, idleTimeout: 90s}\n", []string{"keepAlive.pingInterval:", "idleTimeout"}},
		{"workers", minimal + "workers: 5000\n", []string{"workers:"}},
		{"workers negative", minimal + "workers: -1\n", []string{"workers:"}},
		{"drain negative", minimal + "drainTimeout: -1s\n", []string{"drainTimeout:"}},
		{"subject prefix", minimal + "nats: {subjectPrefix: a.b}\n", []string{"nats.subjectPrefix:"}},
		{"nats cert without key", minimal + "nats: {certFile: c}\n", []string{"nats.certFile:"}},
		{"admin address", minimal + "admin: {address: 'nowhere'}\n", []string{"admin.address:"}},
		{"admin conflicts", "gateway: gw\nnode: n\nlisteners:\n  - {name: a, address: '0.0.0.0:9090', protocol: ws}\n", []string{"admin.address:"}},
		{"all problems reported", "gateway: ''\nnode: n\nlisteners:\n  - {name: a, address: x, protocol: wss}\nworkers: -1\n",
			[]string{"gateway: required", "listeners[0].address:", "listeners[0].tls: required", "workers:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.input))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidationErrorsAreFieldErrors(t *testing.T) {
	_, err := Parse([]byte("gateway: ''\nnode: n\nlisteners:\n  - {name: a, address: ':0', protocol: wss}\n"))
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *FieldError", e)
		}
		fields = append(fields, fe.Field)
	}
	if want := []string{"gateway", "listeners[0].tls"}; !slices.Equal(fields, want) {
		t.Errorf("fields = %q, want %q", fields, want)
	}
}

func TestDefaults(t *testing.T) {
	t.Setenv("SIPWS_NODE", "")
	t.Setenv("POD_NAME", "edge-7f9c.pod")
	c, err := Parse([]byte("gateway: gw\nlisteners:\n  - {name: wss, address: ':443', protocol: wss, tls: {certificates: [{certFile: c, keyFile: k}]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	workers := max(4*runtime.GOMAXPROCS(0), 4)
	l := c.Listeners[0]
	checks := []struct {
		field     string
		got, want any
	}{
		{"node", c.Node, "edge-7f9c-pod"},
		{"workers", c.Workers, workers},
		{"drainTimeout", c.DrainTimeout.Duration, 10 * time.Second},
		{"keepAlive.pingInterval", c.KeepAlive.PingInterval.Duration, 25 * time.Second},
		{"keepAlive.idleTimeout", c.KeepAlive.IdleTimeout.Duration, 90 * time.Second},
		{"nats.url", c.NATS.URL, "nats://127.0.0.1:4222"},
		{"nats.subjectPrefix", c.NATS.SubjectPrefix, "sipws"},
		{"admin.address", c.Admin.Address, "127.0.0.1:9090"},
		{"path", l.Path, "/"},
		{"tls.minVersion", l.TLS.MinVersion, "1.2"},
		{"maxConnections", l.Limits.MaxConnections, 100000},
		{"maxConnectionsPerIP", l.Limits.MaxConnectionsPerIP, 1000},
		{"handshakesPerSecondPerIP", l.Limits.HandshakesPerSecondPerIP, 50.0},
		{"handshakeBurstPerIP", l.Limits.HandshakeBurstPerIP, 100},
		{"handshakeTimeout", l.Limits.HandshakeTimeout.Duration, 10 * time.Second},
		{"maxMessageBytes", l.Limits.MaxMessageBytes, 65535},
		{"sendQueueBytes", l.Limits.SendQueueBytes, 262144},
		{"maxInvalidMessages", l.Limits.MaxInvalidMessages, 5},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
		}
	}
	if c.Admin.Enabled() != true || l.TLS.TLSMinVersion() != 0x0303 {
		t.Errorf("admin enabled %v, tls min %x", c.Admin.Enabled(), l.TLS.TLSMinVersion())
	}
}

func TestDefaultKeepsSetValues(t *testing.T) {
	c := &Config{Node: "mine", Workers: 7, Listeners: []Listener{{Path: "/sip", Limits: Limits{MaxConnections: -3}}}}
	c.Default()
	if c.Node != "mine" || c.Workers != 7 || c.Listeners[0].Path != "/sip" || c.Listeners[0].Limits.MaxConnections != -3 {
		t.Errorf("Default overwrote set values: %+v", c)
	}
}

func TestDefaultNodeSources(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		sipwsNode, podName, want string
	}{
		{"node-a", "pod-b", "node-a"},
		{"", "pod-b", "pod-b"},
		{"  ", "pod b", "pod-b"},
		{"", "", SanitizeNode(host)},
	}
	for _, tt := range tests {
		t.Setenv("SIPWS_NODE", tt.sipwsNode)
		t.Setenv("POD_NAME", tt.podName)
		var c Config
		c.Default()
		if c.Node != tt.want {
			t.Errorf("SIPWS_NODE=%q POD_NAME=%q: node = %q, want %q", tt.sipwsNode, tt.podName, c.Node, tt.want)
		}
	}
}

func TestSanitizeNode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"edge-0", "edge-0"},
		{"Edge_1", "Edge_1"},
		{"ip-10-0-0-1.ec2.internal", "ip-10-0-0-1-ec2-internal"},
		{"a b*c>d", "a-b-c-d"},
		{"é", "--"}, // per byte: the result is always ASCII
		{strings.Repeat("x", 40), strings.Repeat("x", 32)},
		{"", ""},
	}
	for _, tt := range tests {
		if got := SanitizeNode(tt.in); got != tt.want {
			t.Errorf("SanitizeNode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLocalConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "local", "sipws.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("config/local/sipws.yaml: %v", err)
	}
	if c.Gateway != "local" || len(c.Listeners) != 2 || c.Listeners[1].Protocol != "wss" ||
		c.Listeners[1].TLS.Certificates[0].CertFile != ".local/tls/tls.crt" || len(c.Listeners[0].AllowedOrigins) != 0 {
		t.Errorf("unexpected local config: %+v", c)
	}
}

func TestLoadNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte("gateway: gw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "listeners") {
		t.Errorf("Load error = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load missing error = %v", err)
	}
	if err := os.WriteFile(path, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(path); err != nil || c.Gateway != "gw" {
		t.Errorf("Load = %+v, %v", c, err)
	}
}

func TestRestartRequired(t *testing.T) {
	base := func() *Config {
		c, err := Parse([]byte(minimal + "  - {name: wss, address: ':8443', protocol: wss, tls: {certificates: [{certFile: c, keyFile: k}]}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name      string
		edit      func(c *Config)
		listeners bool
		restart   []string
	}{
		{"same", func(c *Config) {}, false, nil},
		{"hot fields", func(c *Config) {
			c.Listeners[0].AllowedOrigins = []string{"https://a.com"}
			c.Listeners[0].Path = "/sip"
			c.Listeners[0].Limits.MaxConnections = 1
			c.Listeners[1].TLS.Certificates = append(c.Listeners[1].TLS.Certificates, Certificate{"d", "e"})
			c.KeepAlive.PingInterval = D(time.Second)
			c.DrainTimeout = D(time.Minute)
		}, false, nil},
		{"reordered", func(c *Config) { slices.Reverse(c.Listeners) }, false, nil},
		{"address", func(c *Config) { c.Listeners[1].Address = ":9443" }, true, []string{"listeners"}},
		{"protocol", func(c *Config) { c.Listeners[1].Protocol = "ws"; c.Listeners[1].TLS = nil }, true, []string{"listeners"}},
		{"renamed", func(c *Config) { c.Listeners[0].Name = "plain" }, true, []string{"listeners"}},
		{"removed", func(c *Config) { c.Listeners = c.Listeners[:1] }, true, []string{"listeners"}},
		{"process fields", func(c *Config) {
			c.Gateway, c.Node, c.Workers = "g2", "n2", c.Workers+1
			c.NATS.URL, c.FlowToken.KeysFile, c.Admin.Pprof = "nats://x:1", "k.yaml", true
		}, false, []string{"gateway", "node", "workers", "nats", "flowToken", "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, c := base(), base()
			tt.edit(c)
			if got := c.ListenerChanges(old); got != tt.listeners {
				t.Errorf("ListenerChanges = %v, want %v", got, tt.listeners)
			}
			if got := c.RestartRequired(old); !slices.Equal(got, tt.restart) {
				t.Errorf("RestartRequired = %q, want %q", got, tt.restart)
			}
		})
	}
	if !base().ListenerChanges(nil) {
		t.Error("ListenerChanges(nil) = false")
	}
}

func TestCertificateFiles(t *testing.T) {
	c, err := Parse([]byte(minimal + "  - {name: wss, address: ':0', protocol: wss, tls: {certificates: [{certFile: a.crt, keyFile: a.key}, {certFile: b.crt, keyFile: b.key}]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.CertificateFiles(), []string{"a.crt", "a.key", "b.crt", "b.key"}; !slices.Equal(got, want) {
		t.Errorf("CertificateFiles = %q, want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("..", "..", "config", "local", "sipws.yaml")); err == nil {
		f.Add(data)
	}
	f.Add([]byte(minimal))
	f.Add([]byte(`{"gateway":"gw","listeners":[{"name":"a","address":":0","protocol":"ws","allowedOrigins":["https://*.a.com"]}]}`))
	f.Add([]byte("keepAlive: {pingInterval: .inf}\ndrainTimeout: 1e300\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil {
			if c == nil {
				t.Fatal("nil config without error")
			}
			// A valid config stays valid: Validate must not depend on anything Parse skipped.
			if err := c.Validate(); err != nil {
				t.Fatalf("parsed config fails Validate: %v", err)
			}
			for _, l := range c.Listeners {
				MatchOrigin(l.AllowedOrigins, "https://x.example.com")
			}
		}
	})
}
