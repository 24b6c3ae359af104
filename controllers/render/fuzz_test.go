package render

import (
	"errors"
	"testing"

	v1 "github.com/sipws/sipws/api/v1alpha1"
	"github.com/sipws/sipws/edge/config"
)

// FuzzRender: whatever reaches the renderer (the API server's schema is the only filter before
// it), Render either returns an *InvalidError or objects whose config the data plane loads.
func FuzzRender(f *testing.F) {
	f.Setenv("SIPWS_NODE", "fuzz")
	f.Add("ws", uint16(8080), "/", "https://app.example.com", "25s", "90s", "alice*", "INVITE", "sip:pbx.example.com:5060", "5s", int32(1000))
	f.Add("admin", uint16(9090), "/a?b", "*", "1s", "1s", "[", "invite", "http://x", "", int32(0))
	f.Add("x", uint16(0), "", "https://*.example.org", "0s", "1h", "", "", "sips:a", "1ms", int32(-1))
	f.Fuzz(func(t *testing.T, name string, port uint16, path, origin, ping, idle, user, method, uri, handshake string, maxMsg int32) {
		gw := baseGateway()
		l := &gw.Spec.Listeners[0]
		l.Name, l.Port, l.Path = name, int32(port), path
		l.AllowedOrigins = []string{origin}
		l.Limits = &v1.Limits{HandshakeTimeout: v1.Duration(handshake), MaxMessageBytes: maxMsg}
		gw.Spec.KeepAlive = v1.KeepAlive{PingInterval: v1.Duration(ping), IdleTimeout: v1.Duration(idle)}
		gw.Spec.Routes[0].Match.Users = []string{user}
		gw.Spec.Routes[0].Match.Methods = []string{method}
		gw.Spec.Routes[0].Upstream.Targets[0].URI = uri
		in := testInputs()
		in.Files, _ = ResolveFiles(Refs(gw), testSecrets(gw))
		in.Files[FlowKeysKey] = []byte(testKeyring)
		out, err := Render(gw, in)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("error is not an InvalidError: %v", err)
			}
			return
		}
		if _, err := config.Parse(out.ConfigYAML); err != nil {
			t.Fatalf("rendered a config the data plane refuses: %v\n%s", err, out.ConfigYAML)
		}
		for _, o := range out.Objects() {
			if _, err := Unstructured(o); err != nil {
				t.Fatal(err)
			}
		}
	})
}
