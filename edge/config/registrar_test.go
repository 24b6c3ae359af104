package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const regBase = "gateway: gw\nlisteners:\n  - {name: ws, address: ':8080', protocol: ws}\nrouter:\n  routes:\n"

func TestRegistrarRoute(t *testing.T) {
	for _, tc := range []struct {
		name, route, err string
	}{
		{"defaults", "    - {name: r, upstream: {registrar: {}}}\n", ""},
		{"bounds", "    - {name: r, upstream: {registrar: {minExpires: 30s, maxExpires: 10m, defaultExpires: 5m}}}\n", ""},
		{"auth", "    - {name: r, upstream: {registrar: {auth: {realm: x, usersFile: u.yaml, algorithms: [SHA-256]}}}}\n", ""},
		{"with targets", "    - {name: r, upstream: {registrar: {}, targets: [{uri: 'sip:a'}]}}\n", "exactly one of targets, natsSubject or registrar"},
		{"bad bucket", "    - {name: r, upstream: {registrar: {bucket: 'a.b'}}}\n", "bucket"},
		{"max below min", "    - {name: r, upstream: {registrar: {minExpires: 10m, maxExpires: 1m}}}\n", "maxExpires"},
		{"auth without file", "    - {name: r, upstream: {registrar: {auth: {realm: x}}}}\n", "usersFile"},
		{"bad algorithm", "    - {name: r, upstream: {registrar: {auth: {realm: x, usersFile: u, algorithms: [SHA-1]}}}}\n", "MD5 or SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(regBase + tc.route))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := c.Router.Routes[0].Upstream.Registrar
			if g.MinExpires.Duration <= 0 || g.MaxExpires.Duration < g.MinExpires.Duration || g.Replicas != 1 || !c.Router.Routes[0].Upstream.HealthCheck.Disabled {
				t.Errorf("defaults not applied: %+v", g)
			}
			if g.RegistrarBucket("gw") != "sipws-gw-bindings" {
				t.Errorf("bucket %q", g.RegistrarBucket("gw"))
			}
		})
	}
}

// Local mode routes to the registrar and serves the demo page; nothing else does by default.
func TestLocalConfigRegistrarAndDemo(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "local", "sipws.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Router.Routes) != 1 || c.Router.Routes[0].Upstream.Registrar == nil {
		t.Errorf("local routes %+v: want one route to the registrar", c.Router.Routes)
	}
	if g := c.Router.Routes[0].Upstream.Registrar; g.MaxExpires.Duration != time.Hour {
		t.Errorf("maxExpires %v", g.MaxExpires)
	}
	for _, l := range c.Listeners {
		if !l.Demo {
			t.Errorf("local listener %s without the demo page", l.Name)
		}
	}
	d, err := Parse([]byte(regBase + "    - {name: r, upstream: {registrar: {}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Listeners[0].Demo {
		t.Error("demo page on by default")
	}
}
