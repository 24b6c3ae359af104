package server_test

import (
	"crypto/tls"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sipws/sipws/edge/config"
	"github.com/sipws/sipws/edge/server"
)

// TestReloadOrigins: a reload with a new allow-list refuses the old origin at the next
// handshake while an open flow stays up.
func TestReloadOrigins(t *testing.T) {
	t.Parallel()
	const oldOrigin, newOrigin = "https://old.example.com", "https://new.example.com"
	var base config.Config
	e := newTestEdge(t, func(c *config.Config) {
		c.Listeners[0].AllowedOrigins = []string{oldOrigin}
		base = *c
	})
	addr := e.s.Addr("ws").String()
	c := dial(t, e.url("ws", "/"), withOrigin(oldOrigin))
	tok := flowOf(t, c, e.in, "reload-1")

	next := base
	next.Listeners = []config.Listener{base.Listeners[0]}
	next.Listeners[0].AllowedOrigins = []string{newOrigin}
	next.Default()
	if err := e.s.Reload(&next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	waitMetric(t, e.s, "sipws_edge_config_reloads_total", map[string]string{"what": "config", "result": "ok"}, equals(1), "reload counted")

	resp, _ := rawHandshake(t, addr, "/", "Sec-WebSocket-Protocol: sip", "Origin: "+oldOrigin)
	if resp.StatusCode != 403 {
		t.Fatalf("old origin after reload: status %d, want 403", resp.StatusCode)
	}
	resp, _ = rawHandshake(t, addr, "/", "Sec-WebSocket-Protocol: sip", "Origin: "+newOrigin)
	if resp.StatusCode != 101 {
		t.Fatalf("new origin after reload: status %d, want 101", resp.StatusCode)
	}

	// The flow opened with the old origin is untouched.
	msg := register("reload-2", 2)
	c.sendText(msg)
	m := waitMsgData(t, e.in, []byte(msg), waitLong)
	if m.Header.Get("Sipws-Flow") != tok || m.Header.Get("Sipws-Origin") != oldOrigin {
		t.Errorf("after reload: flow %q origin %q", m.Header.Get("Sipws-Flow"), m.Header.Get("Sipws-Origin"))
	}
	e.out(t, tok, []byte(sipResponse("reload-2")))
	if _, p := c.readMessage(waitLong); sipHeader(string(p), "Call-ID") != "reload-2" {
		t.Fatalf("after reload the client got %.60q", p)
	}

	// An invalid configuration is refused and changes nothing.
	bad := next
	bad.Listeners = []config.Listener{next.Listeners[0]}
	bad.Listeners[0].AllowedOrigins = []string{"not an origin"}
	if err := e.s.Reload(&bad); err == nil {
		t.Fatal("Reload accepted an invalid allow-list")
	}
	resp, _ = rawHandshake(t, addr, "/", "Sec-WebSocket-Protocol: sip", "Origin: "+newOrigin)
	if resp.StatusCode != 101 {
		t.Fatalf("after a rejected reload: status %d, want 101", resp.StatusCode)
	}
}

// TestReloadCertificates: a reload that points a WSS listener at other certificate files
// serves them to new handshakes; one with a missing file keeps the old ones and says so.
func TestReloadCertificates(t *testing.T) {
	t.Parallel()
	first := selfSigned(t, t.TempDir(), "localhost", "first.example.test")
	second := selfSigned(t, t.TempDir(), "localhost", "second.example.test")
	var base config.Config
	e := newTestEdge(t, func(c *config.Config) {
		c.Listeners = append(c.Listeners, wssListener("wss", first))
		base = *c
	})
	addr := e.s.Addr("wss").String()
	c := dial(t, e.url("wss", "/"), withTLS(tlsVersion(tls.VersionTLS13)))
	tok := flowOf(t, c, e.in, "certs-1")

	with := func(cert config.Certificate) *config.Config {
		next := base
		next.Listeners = []config.Listener{base.Listeners[0], base.Listeners[1]}
		next.Listeners[1].TLS = &config.TLS{Certificates: []config.Certificate{cert}}
		next.Default()
		return &next
	}
	if err := e.s.Reload(with(second)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if leaf := serverLeaf(t, addr, "localhost", tls.VersionTLS13); !slices.Contains(leaf.DNSNames, "second.example.test") {
		t.Fatalf("after reload the leaf is for %v", leaf.DNSNames)
	}
	err := e.s.Reload(with(config.Certificate{CertFile: filepath.Join(t.TempDir(), "missing.crt"), KeyFile: second.KeyFile}))
	if err == nil {
		t.Fatal("Reload accepted a missing certificate file")
	}
	if leaf := serverLeaf(t, addr, "localhost", tls.VersionTLS13); !slices.Contains(leaf.DNSNames, "second.example.test") {
		t.Fatalf("after a failed reload the leaf is for %v", leaf.DNSNames)
	}
	// The flow opened with the first certificate still works.
	e.out(t, tok, []byte(sipResponse("certs-1")))
	if _, p := c.readMessage(waitLong); sipHeader(string(p), "Call-ID") != "certs-1" {
		t.Fatalf("old flow got %.60q", p)
	}
}

// TestReloadRestartRequired: a new listener port is kept for the next start; the rest of the
// file is in force and the error says so with ErrRestartRequired, so a watcher does not retry.
func TestReloadRestartRequired(t *testing.T) {
	t.Parallel()
	var base config.Config
	e := newTestEdge(t, func(c *config.Config) { base = *c })
	next := base
	next.Listeners = []config.Listener{base.Listeners[0]}
	next.Listeners[0].Address = "127.0.0.1:1"
	next.Default()
	err := e.s.Reload(&next)
	if !errors.Is(err, server.ErrRestartRequired) {
		t.Fatalf("Reload with a new listener address = %v, want ErrRestartRequired", err)
	}
	waitMetric(t, e.s, "sipws_edge_config_reloads_total", map[string]string{"what": "config", "result": "restart_required"}, equals(1), "reload counted")
	if got := e.s.Addr("ws").String(); got == "127.0.0.1:1" {
		t.Errorf("listener moved to %s without a restart", got)
	}
}
